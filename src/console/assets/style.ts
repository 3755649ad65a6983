// The console's one stylesheet, as a TypeScript module exporting its text: tsc carries it into
// dist/ with the code, so scripts/start, scripts/test and the Docker image need no copy or build
// step, and tests read it straight from src/. It must never reference anything outside Safelist
// (no web fonts, no CDN, no url() to another origin): workspaces are network-isolated.
// Colours keep WCAG AA contrast (4.5:1 for text) on both backgrounds.
export const STYLE_CSS = `
:root { --fg: #1b1f24; --muted: #4a5360; --bg: #ffffff; --panel: #f4f6f8; --line: #c9d1d9; --accent: #0b5cad;
  --ok: #116329; --bad: #a40e26; --warn: #7a4d00; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.5; }
a { color: var(--accent); }
/* Focus: a two-tone ring (yellow inside, near-black outside) that keeps 3:1 against the white page and the dark header.
   A date input's focus sits in its inner fields, hence :focus-within. */
a:focus, button:focus, input:focus, input:focus-within, select:focus, textarea:focus, summary:focus, main:focus-visible {
  outline: 3px solid #f2b300; outline-offset: 0; box-shadow: 0 0 0 6px #1b1f24; }
.skip { position: absolute; left: -9999px; top: 0; background: var(--bg); padding: .5rem 1rem; }
.skip:focus { left: 1rem; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between;
  padding: .5rem 1rem; background: #14213d; color: #ffffff; }
header.top a { color: #ffffff; }
header.top .brand { font-weight: 700; text-decoration: none; font-size: 1.1rem; }
header.top form { display: inline; }
nav.main ul { list-style: none; margin: 0; padding: 0 1rem; display: flex; flex-wrap: wrap; gap: .25rem 1rem; background: var(--panel);
  border-bottom: 1px solid var(--line); }
nav.main a { display: inline-block; padding: .5rem 0; }
nav.main a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
main { padding: 1rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin-top: .5rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); }
label { display: block; font-weight: 600; margin-top: .75rem; }
label.inline { display: inline; font-weight: 400; margin: 0; }
input[type="text"], input[type="search"], input[type="password"], input[type="date"], select, textarea { font: inherit; padding: .35rem;
  border: 1px solid #6b7683; border-radius: 3px; max-width: 100%; }
textarea { width: 40rem; min-height: 5rem; }
button, .button { font: inherit; padding: .4rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #ffffff;
  border-radius: 3px; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary { background: var(--bg); color: var(--accent); }
pre, code { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace; }
pre { background: var(--panel); padding: .75rem; overflow-x: auto; border: 1px solid var(--line); }
.status-allowed, .ok { color: var(--ok); font-weight: 600; }
.status-blocked, .bad { color: var(--bad); font-weight: 600; }
.status-held, .warn { color: var(--warn); font-weight: 600; }
.notice { border-left: 4px solid var(--accent); background: var(--panel); padding: .5rem 1rem; margin: 1rem 0; }
.error { border-left: 4px solid var(--bad); background: #fff0f0; padding: .5rem 1rem; margin: 1rem 0; }
.muted { color: var(--muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
footer { padding: 1rem; color: var(--muted); border-top: 1px solid var(--line); }
.bar { display: inline-block; height: .8rem; background: var(--accent); vertical-align: middle; }
`;
