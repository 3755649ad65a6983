// A package page: what the policy says about one name in one view (policy/explain.ts, the same
// explanation as `safelist why` and /api/v1/policy/why), each known version as allowed, blocked
// or held by a cool-down with the reason and the allowlist line (or exception) it comes from,
// the install snippet, and "request an exception" prefilled. It must never present a version as
// installable that the read path would refuse: every status is the read path's own decision;
// nor explain a view the identity may not read when package reads need a token (read-scope.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ecosystemIds, ecosystems } from '../../ecosystems/index.js';
import { errors } from '../../errors.js';
import { describeRule, type Ecosystem } from '../../policy/types.js';
import { parse } from '../../validate.js';
import { html, type Html } from '../html.js';
import { installSnippet } from '../install.js';
import { pickShownView } from '../read-scope.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { explainWithVersions, type VersionRow } from '../versions.js';
import { dataTable, viewSelect } from '../widgets.js';

const params = z.object({
  ecosystem: z.enum(ecosystemIds as [string, ...string[]], `ecosystem must be one of ${ecosystemIds.join(', ')}`),
  name: z.string().min(1).max(300),
});
const query = z.object({ view: z.string().max(64).optional() });

export function requestHref(ecosystem: Ecosystem, name: string, view: string, versions = ''): string {
  const q = new URLSearchParams({ ecosystem, name, view, versions });
  return `/ui/request?${q}`;
}

function renderVersions(rows: VersionRow[], ecosystem: Ecosystem, name: string, view: string): Html {
  if (!rows.length) return html`<p>Safelist knows no version of ${name} yet (the sync fetches only what the policy names).</p>`;
  const body = rows.map((r) => {
    const rule = r.decision.rule ? describeRule(r.decision.rule) : 'no rule names it';
    const state = r.status === 'held' ? 'held by the cool-down' : r.status;
    const request =
      r.status === 'allowed' ? html`` : html` <a href="${requestHref(ecosystem, name, view, r.range)}">Request this version</a>`;
    return html`<tr>
      <th scope="row">${r.label}</th>
      <td class="status-${r.status}">
        ${state}${r.status === 'allowed' && !r.stored ? html` <span class="muted">(not mirrored yet)</span>` : html``}
      </td>
      <td>${r.decision.reason}${request}</td>
      <td>${rule}</td>
    </tr>`;
  });
  return dataTable(html`Versions in view ${view}`, ['Version', 'Status', 'Why', 'Rule'], body);
}

function renderSnippet(snippet: string | undefined): Html {
  if (!snippet) return html`<p class="muted">The install command needs server.publicUrl (this server listens on every address).</p>`;
  return html`<h2>Install</h2>
    <pre id="install-snippet">${snippet}</pre>
    <button type="button" class="secondary" data-copy="install-snippet" hidden>Copy</button>`;
}

export function registerPackagePage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/packages/:ecosystem/:name', { preHandler: needs() }, async (req, reply) => {
    const p = parse(params, req.params, 'path');
    const ecosystem = p.ecosystem as Ecosystem;
    const module = ecosystems.get(ecosystem)!;
    const problem = module.grammar.checkName(p.name);
    if (problem) throw errors.invalidName(problem);
    const { view, views } = pickShownView(deps, signedIn(req), parse(query, req.query, 'query').view);
    const rt = deps.runtime;
    const { explanation: e, rows } = explainWithVersions(rt, ecosystem, p.name, view);
    const allowed = rows.filter((r) => r.status === 'allowed').pop();
    const statusClass = e.status === 'allowed' || e.status === 'partly-allowed' ? 'status-allowed' : 'status-blocked';
    const body = html`<form method="get" action="/ui/packages/${ecosystem}/${encodeURIComponent(e.name)}">
        ${viewSelect(views, view)} <button type="submit" class="secondary">Show</button>
      </form>
      <p class="${statusClass}" role="status">${e.message}</p>
      ${
        e.rules.length
          ? html`<h2>Rules that name it</h2>
              <ul>
                ${e.rules.map((r) => html`<li>${r}</li>`)}
              </ul>`
          : html``
      }
      ${renderVersions(rows, ecosystem, e.name, view)}
      ${e.status === 'allowed' || e.status === 'partly-allowed' ? renderSnippet(installSnippet(deps.config, app.server.address(), module, e.name, view, allowed?.version)) : html``}
      <p><a class="button" href="${requestHref(ecosystem, e.name, view)}">Request an exception</a></p>`;
    return sendPage(req, reply, { title: `${e.name} (${ecosystem})`, nav: '/ui/', body });
  });
}
