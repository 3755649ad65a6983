// Small pieces of markup several console pages share (view picker, ecosystem picker, dates).
// Markup only, escaped by html``: they must never read or decide anything themselves.
import { errors } from '../errors.js';
import { ecosystemIds } from '../ecosystems/index.js';
import { html, type Html } from './html.js';

/** How the extra choices read: "" (no filter) and "*" (a global exception). */
const OPTION_TEXT: Record<string, string> = { '': 'every view', '*': '* (every view: a global exception, decided by admins)' };

/** A labelled <select> of the configured views. */
export function viewSelect(views: readonly string[], selected: string, id = 'view', extra: readonly string[] = []): Html {
  const options = [...views, ...extra].map(
    (v) => html`<option value="${v}" ${v === selected ? html` selected` : html``}>${OPTION_TEXT[v] ?? v}</option>`,
  );
  return html`<label for="${id}">Workspace view</label
    ><select id="${id}" name="view">
      ${options}
    </select>`;
}

/** A labelled <select> of the ecosystems, with "all" first when allowed. */
export function ecosystemSelect(selected: string, withAll: boolean, id = 'ecosystem'): Html {
  const values = [...(withAll ? ['all'] : []), ...ecosystemIds];
  const options = values.map((v) => html`<option value="${v}" ${v === selected ? html` selected` : html``}>${v}</option>`);
  return html`<label for="${id}">Ecosystem</label
    ><select id="${id}" name="ecosystem">
      ${options}
    </select>`;
}

/** A date as YYYY-MM-DD in a <time> element. */
export function day(iso: string | Date): Html {
  const d = typeof iso === 'string' ? iso : iso.toISOString();
  return html`<time datetime="${d}">${d.slice(0, 10)}</time>`;
}

/** The view a page shows: the one asked for (404 when there is no such view), else "default", else the first view. */
export function pickView(views: readonly string[], asked: string | undefined): string {
  if (asked) {
    if (!views.includes(asked)) throw errors.unknownView(asked, [...views]);
    return asked;
  }
  return views.includes('default') ? 'default' : (views[0] ?? 'default');
}

/** A table with a caption (hidden but read out when the heading above says it already), column headers and rows. */
export function dataTable(
  caption: Html | string,
  headers: ReadonlyArray<Html | string>,
  rows: readonly Html[],
  opts: { hiddenCaption?: boolean } = {},
): Html {
  return html`<table>
    <caption ${opts.hiddenCaption ? html`class="visually-hidden"` : html``}>
      ${caption}
    </caption>
    <thead>
      <tr>
        ${headers.map((h) => html`<th scope="col">${h}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}
