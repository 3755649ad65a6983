// The console's demand page (/ui/demand): the most wanted blocked packages per view, as a
// server-rendered SVG bar chart (presentation attributes only: the CSP allows no inline style
// or script) with a table of the same numbers for screen readers and keyboard users. For the
// roles the API's /api/v1/demand admits (approver, admin, auditor). Data from views/demand.ts;
// it must never put a package name into the SVG unescaped.
import type { FastifyInstance } from 'fastify';
import { html, type Html } from '../html.js';
import { dataTable } from '../widgets.js';
import { demandViews } from '../../exceptions/scope.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { CHART, demandPage, parseDemandFilter, type DemandPageView } from '../views/demand.js';
import { packageHref } from './search.js';
import { ecosystems } from '../../ecosystems/index.js';

type ViewDemand = DemandPageView['views'][number];

/** The bar chart: one row per package, the label left, the bar and its count right. */
export function demandChart(v: ViewDemand): Html {
  const id = `chart-${v.view.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const bars = v.bars.map(
    (b) =>
      html`<g>
        <text x="${CHART.label - 8}" y="${b.y + CHART.bar - 3}" text-anchor="end" font-size="12" fill="#1b1f24"
          >${b.ecosystem} ${b.name}</text
        >
        <rect x="${CHART.label}" y="${b.y + 2}" width="${b.width}" height="${CHART.bar}" fill="#0b5cad"></rect>
        <text x="${CHART.label + b.width + 6}" y="${b.y + CHART.bar - 3}" font-size="12" fill="#1b1f24">${b.count}</text>
      </g>`,
  );
  return html`<svg
    role="img"
    aria-labelledby="${id}"
    viewBox="0 0 ${CHART.width} ${Math.max(v.height, CHART.row)}"
    width="100%"
    preserveAspectRatio="xMinYMin meet"
    class="chart"
  >
    <title id="${id}">Most wanted blocked packages in view ${v.view}, by refused requests</title>
    ${bars}
  </svg>`;
}

function demandTable(v: ViewDemand): Html {
  const rows = v.rows.map((r) => {
    const href = ecosystems.has(r.ecosystem) ? packageHref(r.ecosystem, r.name, v.view) : undefined;
    return html`<tr>
      <td>${href ? html`<a href="${href}">${r.name}</a>` : r.name}</td>
      <td>${r.ecosystem}</td>
      <td>${r.count}</td>
      <td>${r.lastAt}</td>
    </tr>`;
  });
  return dataTable(html`Refused requests in view ${v.view}`, ['Package', 'Ecosystem', 'Refused requests', 'Last refused'], rows);
}

function filterForm(p: DemandPageView, views: string[]): Html {
  const options = ['', ...views].map(
    (v) => html`<option value="${v}" ${v === (p.filter.view ?? '') ? html` selected` : html``}>${v || 'every view'}</option>`,
  );
  return html`<form method="get" action="/ui/demand">
    <label for="d-view">Workspace view</label
    ><select id="d-view" name="view">
      ${options}
    </select>
    <label for="d-top">How many per view</label><input id="d-top" name="top" type="number" min="1" max="50" value="${p.filter.top ?? 10}" />
    <p><button type="submit">Show</button></p>
  </form>`;
}

export function registerDemandPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/demand', { preHandler: needs('approver', 'admin', 'auditor') }, async (req, reply) => {
    const shown = demandViews(deps.runtime.exceptions.scopeOf(signedIn(req)));
    const p = await demandPage(deps.runtime.db, parseDemandFilter(req.query), shown);
    const sections = p.views.length
      ? p.views.map(
          (v) =>
            html`<section>
              <h2>View ${v.view}</h2>
              ${demandChart(v)} ${demandTable(v)}
            </section>`,
        )
      : html`<p>No blocked request has been counted yet.</p>`;
    const body = html`<p>What clients asked for and the policy refused, counted on the read paths: candidates to allow next.</p>
      ${filterForm(
        p,
        deps.runtime.policies.policy.viewNames().filter((v) => shown === 'all' || shown.has(v)),
      )}
      ${sections}`;
    return sendPage(req, reply, { title: 'Demand insight', nav: '/ui/demand', body });
  });
}
