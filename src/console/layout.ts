// The page frame every console page is rendered into: doctype, language, title, the one
// stylesheet and script (same origin, no inline code: the CSP forbids it), a skip link, header,
// navigation of every page, main landmark and footer. Pages give only their title and body. It
// must never put caller text into the document unescaped (html`` escapes by default).
import type { Identity } from '../auth/identity.js';
import { html, type Html } from './html.js';
import { ASSET_URLS } from './assets.js';

/** Every console page, in navigation order (the ops pages included: gate, demand, sync, audit, onboarding). */
export const NAV: ReadonlyArray<{ href: string; label: string }> = [
  { href: '/ui/', label: 'Search' },
  { href: '/ui/requests', label: 'My requests' },
  { href: '/ui/queue', label: 'Approvals' },
  { href: '/ui/gate', label: 'Container gate' },
  { href: '/ui/demand', label: 'Demand' },
  { href: '/ui/sync', label: 'Sync status' },
  { href: '/ui/audit', label: 'Audit trail' },
  { href: '/ui/onboarding', label: 'Workspace setup' },
];

export interface PageOptions {
  title: string;
  /** The signed-in identity; undefined on the sign-in and error pages before sign-in. */
  who: Identity | undefined;
  /** The path of the current page's navigation entry (marked aria-current), e.g. '/ui/queue'. */
  nav: string;
  body: Html;
  /** The session's CSRF token, for the sign-out form in the header. */
  csrf: string | undefined;
  /** A one-line message shown above the body (after a decision, a withdrawal). */
  notice?: string;
}

/** The roles, or for a reader (no role: consoleRefusal admits it for its read grants) the views it reads. */
function rolesText(who: Identity): string {
  if (who.roles.size) return [...who.roles].join(', ');
  return who.readViews === '*' ? 'reader of every view' : `reader of ${[...who.readViews].join(', ')}`;
}

function renderHeader(who: Identity | undefined, csrf: string | undefined): Html {
  const account = who
    ? html`<span>Signed in as <strong>${who.name}</strong> (${rolesText(who)})</span>
        <a href="/ui/sessions">Sessions</a>
        <form method="post" action="/ui/sign-out">
          <input type="hidden" name="_csrf" value="${csrf ?? ''}" /> <button type="submit" class="secondary">Sign out</button>
        </form>`
    : html`<a href="/ui/sign-in">Sign in</a>`;
  return html`<header class="top">
    <a class="brand" href="/ui/">Safelist</a>
    <div>${account}</div>
  </header>`;
}

function renderNav(current: string, who: Identity | undefined): Html {
  if (!who) return html``;
  const items = NAV.map(
    (n) => html`<li><a href="${n.href}" ${n.href === current ? html` aria-current="page"` : html``}>${n.label}</a></li>`,
  );
  return html`<nav class="main" aria-label="Console">
    <ul>
      ${items}
    </ul>
  </nav>`;
}

/** The whole HTML document of one page. */
export function renderPage(p: PageOptions): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${p.title} · Safelist</title>
        <link rel="stylesheet" href="${ASSET_URLS.css}" />
        <script src="${ASSET_URLS.js}" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        ${renderHeader(p.who, p.csrf)} ${renderNav(p.nav, p.who)}
        <main id="main" tabindex="-1">
          <h1>${p.title}</h1>
          ${p.notice ? html`<p class="notice" role="status">${p.notice}</p>` : html``} ${p.body}
        </main>
        <footer>Safelist: curated packages and the container gate.</footer>
      </body>
    </html>`;
}
