// The console's home: catalog search across ecosystems in one workspace view, with close
// matches for typos, each hit linking to its package page. It must never show a name as
// allowed that the policy does not admit (the status comes from CatalogSearch, i.e. the policy),
// nor search a view the identity may not read when package reads need a token (read-scope.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ecosystemIds } from '../../ecosystems/index.js';
import type { Explanation } from '../../policy/explain.js';
import type { Ecosystem } from '../../policy/types.js';
import { parse } from '../../validate.js';
import { html } from '../html.js';
import { CatalogSearch, type SearchHit } from '../search.js';
import { pickShownView, readGrantHint, shownViews } from '../read-scope.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { explainIn } from '../versions.js';
import { ecosystemSelect, viewSelect, dataTable } from '../widgets.js';

const query = z.object({
  q: z.string().max(200).optional(),
  view: z.string().max(64).optional(),
  ecosystem: z
    .enum(['all', ...ecosystemIds] as [string, ...string[]], `ecosystem must be all or one of ${ecosystemIds.join(', ')}`)
    .optional(),
});

export function packageHref(ecosystem: Ecosystem, name: string, view: string): string {
  return `/ui/packages/${ecosystem}/${encodeURIComponent(name)}?view=${encodeURIComponent(view)}`;
}

const STATUS_TEXT: Record<Explanation['status'], string> = {
  allowed: 'allowed',
  'partly-allowed': 'some versions allowed',
  'not-mirrored': 'allowed, not mirrored yet',
  blocked: 'blocked',
};

function renderHits(hits: Array<SearchHit & { status: Explanation['status'] }>, q: string, view: string) {
  if (!q) return html``;
  if (!hits.length)
    return html`<p>
      Nothing known to Safelist matches <strong>${q}</strong>. You can still
      <a href="/ui/request?name=${encodeURIComponent(q)}&amp;view=${encodeURIComponent(view)}">request an exception</a> for it.
    </p>`;
  const rows = hits.map(
    (h) =>
      html`<tr>
        <td>
          <a href="${packageHref(h.ecosystem, h.name, view)}">${h.name}</a
          >${h.distance ? html` <span class="muted">(close match)</span>` : html``}
        </td>
        <td>${h.ecosystem}</td>
        <td class="${h.status === 'blocked' ? 'status-blocked' : 'status-allowed'}">${STATUS_TEXT[h.status]}</td>
      </tr>`,
  );
  return dataTable(html`Search results in view ${view}`, ['Name', 'Ecosystem', `In view ${view}`], rows, { hiddenCaption: true });
}

export function registerSearchPage(app: FastifyInstance, deps: ConsoleDeps): void {
  const search = new CatalogSearch(deps.runtime);
  app.get('/', { preHandler: needs() }, async (req, reply) => {
    const q = parse(query, req.query, 'query');
    const who = signedIn(req);
    // The page every sign-in lands on: an identity admitted for its roles alone (an approver or
    // auditor reading no view) is told why there is nothing to search, not sent a 403.
    if (q.view === undefined && deps.config.auth.packageRead === 'token' && shownViews(deps, who).length === 0) {
      const body = html`<p>
        You read no view's packages, so there is nothing to search here; ${readGrantHint(deps, who, 'default')} (or another view). The pages
        your roles open are in the navigation above.
      </p>`;
      return sendPage(req, reply, { title: 'Search packages', nav: '/ui/', body });
    }
    const { view, views } = pickShownView(deps, who, q.view);
    const eco = q.ecosystem ?? 'all';
    const text = q.q?.trim() ?? '';
    const rt = deps.runtime;
    // Each hit's status is the explanation `safelist why` gives (policy/explain.ts), not a second reading of the rules.
    const hits = (text ? search.search(text, eco === 'all' ? search.ecosystemIds : [eco as Ecosystem]) : []).map((h) => ({
      ...h,
      status: explainIn(rt, h.ecosystem, h.name, view).status,
    }));
    const body = html`<form method="get" action="/ui/" role="search">
        <label for="q">Package name</label>
        <input id="q" name="q" type="search" value="${text}" autocomplete="off" />
        ${viewSelect(views, view)} ${ecosystemSelect(eco, true)}
        <p><button type="submit">Search</button></p>
      </form>
      ${renderHits(hits, text, view)}`;
    return sendPage(req, reply, { title: 'Search packages', nav: '/ui/', body });
  });
}
