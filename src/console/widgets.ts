// Small pieces of markup several console pages share (view picker, ecosystem picker, dates).
// Markup only, escaped by html``: they must never read or decide anything themselves.
import { ECOSYSTEMS } from '../policy/types.js';
import { html, type Html } from './html.js';

/** A labelled <select> of the configured views. */
export function viewSelect(views: readonly string[], selected: string, id = 'view', extra: readonly string[] = []): Html {
  const options = [...extra, ...views].map((v) => html`<option value="${v}" ${v === selected ? html` selected` : html``}>${v}</option>`);
  return html`<label for="${id}">Workspace view</label
    ><select id="${id}" name="view">
      ${options}
    </select>`;
}

/** A labelled <select> of the ecosystems, with "all" first when allowed. */
export function ecosystemSelect(selected: string, withAll: boolean, id = 'ecosystem'): Html {
  const values = [...(withAll ? ['all'] : []), ...ECOSYSTEMS];
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

/** The view a page shows: the query's when it exists, else "default" when it exists, else the first view. */
export function pickView(views: readonly string[], asked: unknown): string {
  if (typeof asked === 'string' && views.includes(asked)) return asked;
  return views.includes('default') ? 'default' : (views[0] ?? 'default');
}
