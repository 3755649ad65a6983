// The console's audit pages, for auditors and admins (as the API's /api/v1/audit*): the trail
// newest first with filters (actor, action, subject, time range; a bad date is a 400 page that
// says what to write), paged by record number; /ui/audit/verify, the chain and anchor check of
// audit/log.ts; /ui/audit/export, the same JSON Lines export as the API and the CLI, for the
// same filters. It must never write to the trail or check hashes itself.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { AuditRecord, VerifyReport } from '../../audit/log.js';
import { html, type Html } from '../html.js';
import { dataTable } from '../widgets.js';
import { needs, sendPage, type ConsoleDeps } from '../types.js';
import { auditPage, exportQuery, parseAuditFilter, type AuditFilter, type AuditPageView } from '../views/audit.js';

function field(id: string, label: string, name: keyof AuditFilter, f: AuditFilter, hint?: string): Html {
  return html`<label for="${id}">${label}</label
    ><input id="${id}" name="${name}" type="text" value="${f[name] ?? ''}" ${hint ? html` aria-describedby="${id}-hint"` : html``} />
    ${hint ? html`<span id="${id}-hint" class="muted">${hint}</span>` : html``}`;
}

function filterForm(f: AuditFilter): Html {
  const when = 'a date (2026-11-30) or a time (2026-11-30T14:05, UTC)';
  return html`<form method="get" action="/ui/audit">
    ${field('a-actor', 'Actor', 'actor', f)} ${field('a-action', 'Action', 'action', f, 'e.g. exception.approved, gate.verdict')}
    ${field('a-subject', 'Subject', 'subject', f, 'an exception id, a package, an image')} ${field('a-since', 'From', 'since', f, when)}
    ${field('a-until', 'Until (inclusive for a date)', 'until', f, when)}
    <p><button type="submit">Filter</button> <a href="/ui/audit">Clear</a></p>
  </form>`;
}

function recordsTable(records: AuditRecord[]): Html {
  if (!records.length) return html`<p>No record matches.</p>`;
  const rows = records.map(
    (r) =>
      html`<tr>
        <td>${r.seq}</td>
        <td>${r.at}</td>
        <td>${r.actor}</td>
        <td>${r.action}</td>
        <td>${r.subject}</td>
        <td><code>${JSON.stringify(r.detail)}</code></td>
      </tr>`,
  );
  return dataTable(html`Audit records, newest first`, ['Seq', 'At', 'Actor', 'Action', 'Subject', 'Detail'], rows, { hiddenCaption: true });
}

function olderLink(v: AuditPageView): Html {
  if (v.older === undefined) return html``;
  const q = new URLSearchParams(exportQuery(v.filter).slice(1));
  q.set('before', String(v.older));
  return html`<p><a href="/ui/audit?${q.toString()}">Older records</a></p>`;
}

function verifyBody(r: VerifyReport): Html {
  const verdict = r.ok
    ? html`<p class="ok" role="status">The chain is intact: ${r.records} record(s), checked against ${r.anchors} anchor(s).</p>`
    : html`<p class="bad" role="alert">The chain is broken: ${r.problems.length} problem(s) in ${r.records} record(s).</p>`;
  const problems = r.problems.map((p) => html`<li>record ${p.seq} (${p.kind}): ${p.message}</li>`);
  return html`${verdict} ${r.head ? html`<p>Head: record ${r.head.seq}, hash <code>${r.head.hash}</code></p>` : html``}
    ${
      problems.length
        ? html`<ul>
            ${problems}
          </ul>`
        : html``
    }
    <p><a href="/ui/audit">Back to the trail</a></p>`;
}

export function registerAuditPage(app: FastifyInstance, deps: ConsoleDeps): void {
  const auditors = { preHandler: needs('auditor', 'admin') };
  app.get('/audit', auditors, async (req, reply) => {
    const v = await auditPage(deps.runtime.audit, req.query);
    const body = html`${filterForm(v.filter)}
      <p>
        <a href="/ui/audit/export${exportQuery(v.filter)}" download="safelist-audit.jsonl">Export these records (JSON Lines)</a> ·
        <a href="/ui/audit/verify">Verify the chain</a>
      </p>
      ${recordsTable(v.records)} ${olderLink(v)}`;
    return sendPage(req, reply, { title: 'Audit trail', nav: '/ui/audit', body });
  });

  app.get('/audit/verify', auditors, async (req, reply) => {
    const r = await deps.runtime.audit.verify();
    return sendPage(req, reply, { title: 'Audit chain verification', nav: '/ui/audit', body: verifyBody(r) });
  });

  app.get('/audit/export', auditors, async (req, reply) => {
    const { query } = parseAuditFilter(req.query);
    return reply
      .type('application/jsonl')
      .header('content-disposition', 'attachment; filename="safelist-audit.jsonl"')
      .send(Readable.from(deps.runtime.audit.exportLines(query)));
  });
}
