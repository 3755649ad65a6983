// The console's container gate page (/ui/gate): images by registry and repository with their
// verdict, each failing finding with the rule that decided it, exempted findings with the
// exception's owner and expiry, what enforcement did (block, purge), the audit history of one
// digest (?digest=), and the container policy's per-CVE exceptions in force and expiring. For
// the roles that may read verdicts through the API (pipeline, admin, auditor). It reads through
// views/gate.ts only and must never judge, purge or requeue an image.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AuditRecord } from '../../audit/log.js';
import { errors } from '../../errors.js';
import { html, type Html } from '../html.js';
import { needs, sendPage, type ConsoleDeps } from '../types.js';
import {
  EXPIRING_DAYS,
  gatePage,
  parseGateFilter,
  type CveExceptionView,
  type GateFilter,
  type GateImageView,
  type GatePageView,
} from '../views/gate.js';
import { day, dataTable } from '../widgets.js';

const STATE_CLASS: Record<string, string> = { pass: 'ok', fail: 'bad', 'no-verdict': 'warn', queued: 'muted', waiting: 'muted' };

function filterForm(f: GateFilter): Html {
  const states = ['', 'pass', 'fail', 'no-verdict', 'queued', 'waiting'].map(
    (s) => html`<option value="${s}" ${s === (f.state ?? '') ? html` selected` : html``}>${s || 'any'}</option>`,
  );
  return html`<form method="get" action="/ui/gate" class="filters">
    <label for="g-registry">Registry</label><input id="g-registry" name="registry" type="text" value="${f.registry ?? ''}" />
    <label for="g-repository">Repository</label><input id="g-repository" name="repository" type="text" value="${f.repository ?? ''}" />
    <label for="g-state">Verdict</label
    ><select id="g-state" name="state">
      ${states}
    </select>
    <label for="g-digest">Digest</label><input id="g-digest" name="digest" type="text" value="${f.digest ?? ''}" size="40" />
    <p><button type="submit">Show</button> <a href="/ui/gate">Clear</a></p>
  </form>`;
}

function findings(i: GateImageView): Html {
  const failing = i.failures.map(
    (f) =>
      html`<li>
        <strong>${f.id}</strong> ${f.severity} in ${f.package} ${f.installed}${f.fixed ? html` (fixed in ${f.fixed})` : html``} <br /><span
          class="muted"
          >Rule:</span
        >
        ${f.rule}
      </li>`,
  );
  const exempted = i.exempted.map((e) => html`<li>${e.id} ${e.severity} in ${e.package}: exempted by ${e.owner} until ${e.expires}</li>`);
  return html`${
    failing.length
      ? html`<ul class="findings">
          ${failing}
        </ul>`
      : html``
  }
  ${
    exempted.length
      ? html`<p class="muted">Exempted:</p>
          <ul>
            ${exempted}
          </ul>`
      : html``
  }
  ${i.reported ? html`<p class="muted">${i.reported} more finding(s) reported, not failing.</p>` : html``}
  ${!failing.length && !exempted.length && i.reason ? html`<p>${i.reason}</p>` : html``}`;
}

function enforcement(i: GateImageView): Html {
  if (i.state !== 'fail') return html`<span class="muted">none</span>`;
  if (i.reportOnly) return html`report only (nothing purged)`;
  return html`${i.blocked ? html`block: ${i.blocked}<br />` : html``}purge:
    <span class="${i.purged === 'purged' ? 'ok' : 'bad'}">${i.purged ?? 'pending'}</span>`;
}

function imageRow(i: GateImageView): Html {
  const href = `/ui/gate?digest=${encodeURIComponent(i.digest)}`;
  return html`<tr>
    <td>
      <a href="${href}"><code>${i.digest.slice(0, 19)}…</code></a
      ><br /><span class="muted">${i.tags.join(', ') || 'no tag'}</span>
    </td>
    <td class="${STATE_CLASS[i.state] ?? ''}">${i.state}</td>
    <td>${findings(i)}</td>
    <td>${enforcement(i)}</td>
    <td>${day(i.updatedAt)}</td>
  </tr>`;
}

function repositories(v: GatePageView): Html {
  if (!v.repositories.length) return html`<p>No image matches. Images appear here once a registry webhook reports a push.</p>`;
  return html`${v.repositories.map(
    (r) =>
      html`<section>
        <h2>${r.registry}/${r.repository}</h2>
        <table>
          <caption class="visually-hidden">
            Images of ${r.registry}/${r.repository}
          </caption>
          <thead>
            <tr>
              <th scope="col">Digest and tags</th>
              <th scope="col">Verdict</th>
              <th scope="col">Findings and rules</th>
              <th scope="col">Enforcement</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            ${r.images.map(imageRow)}
          </tbody>
        </table>
      </section>`,
  )}
  ${v.truncated ? html`<p class="muted">More images match; narrow the filter.</p>` : html``}`;
}

function exceptionTable(caption: string, list: CveExceptionView[]): Html {
  if (!list.length) return html`<p>${caption}: none.</p>`;
  const rows = list.map(
    (e) =>
      html`<tr>
        <td>${e.cve}</td>
        <td>${e.owner}</td>
        <td>${e.repositories.join(', ')}</td>
        <td>${e.justification}</td>
        <td class="${e.daysLeft < EXPIRING_DAYS && e.daysLeft >= 0 ? 'warn' : ''}">
          ${e.expires}${e.daysLeft >= 0 ? html` (${e.daysLeft} day(s) left)` : html``}
        </td>
      </tr>`,
  );
  return dataTable(caption, ['CVE', 'Owner', 'Repositories', 'Justification', 'Expires'], rows);
}

function exceptionsSection(v: GatePageView): Html {
  const problems = v.policyProblems.length
    ? html`<div class="error" role="alert">
        <p>The container policy has problems; the gate answers "no verdict" until they are fixed:</p>
        <ul>
          ${v.policyProblems.map((p) => html`<li>${p}</li>`)}
        </ul>
      </div>`
    : html``;
  return html`<section>
    <h2>Per-CVE exceptions</h2>
    ${problems} ${exceptionTable(`Expiring within ${EXPIRING_DAYS} days`, v.exceptions.expiring)}
    ${exceptionTable('In force', v.exceptions.inForce)} ${exceptionTable('Expired', v.exceptions.expired)}
  </section>`;
}

export function historyTable(records: AuditRecord[]): Html {
  const rows = records.map(
    (r) =>
      html`<tr>
        <td>${r.seq}</td>
        <td>${r.at}</td>
        <td>${r.action}</td>
        <td>${r.actor}</td>
        <td><code>${JSON.stringify(r.detail)}</code></td>
      </tr>`,
  );
  return dataTable(html`History of this digest (audit trail)`, ['Seq', 'At', 'Action', 'Actor', 'Detail'], rows);
}

export function registerGatePage(app: FastifyInstance, deps: ConsoleDeps): void {
  const policyPath = join(deps.config.policy.allowlistDir, deps.config.gate.policyFile);
  app.get('/gate', { preHandler: needs('pipeline', 'admin', 'auditor') }, async (req, reply) => {
    if (!deps.gate) throw errors.notFound('the container gate does not run on this server');
    const filter = parseGateFilter(req.query);
    const v = await gatePage({ store: deps.gate, audit: deps.runtime.audit, policyPath }, filter);
    const body = html`${filterForm(filter)} ${v.history ? historyTable(v.history) : html``} ${repositories(v)} ${exceptionsSection(v)}`;
    return sendPage(req, reply, { title: 'Container gate', nav: '/ui/gate', body });
  });
}
