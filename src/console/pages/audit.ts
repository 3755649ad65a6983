// The console's audit pages, for auditors and admins (as the API's /api/v1/audit*): the trail
// newest first with filters (actor, action, subject, time range; a bad date is a 400 page that
// says what to write), paged by record number; /ui/audit/verify, the last finished run of the
// audit:verify job (when, who started it, intact or the first break), a running run's progress,
// and a button that starts one (POST, CSRF-checked like every console POST); /ui/audit/export,
// the same JSON Lines export as the API and the CLI, for the same filters. It must never write
// to the trail, check hashes itself, or show a running or failed run as a verdict.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRecord } from '../../audit/log.js';
import { errors } from '../../errors.js';
import { auditVerifyJob } from '../../jobs/maintenance.js';
import type { JobRunner } from '../../jobs/runner.js';
import type { JobRunRecord } from '../../jobs/runs.js';
import type { JobOutcome } from '../../jobs/types.js';
import { html, type Html } from '../html.js';
import { dataTable } from '../widgets.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import {
  auditPage,
  exportQuery,
  parseAuditFilter,
  verifyPage,
  type AuditFilter,
  type AuditPageView,
  type VerifyPageView,
} from '../views/audit.js';

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

function verdictBody(r: JobRunRecord | undefined, head: number): Html {
  if (!r) return html`<p>No verification has finished yet. Start one below; it runs as the audit:verify job.</p>`;
  const s = r.summary;
  const records = s?.counts.records ?? 0;
  const anchors = s?.counts.anchors ?? 0;
  const verifiedHead = s?.counts.head ?? 0;
  const when = html`<p>Started by <code>${r.actor}</code> at ${r.startedAt}, finished at ${r.finishedAt ?? ''}.</p>`;
  // The run's own audit.verified record comes right after the head it checked: not counted as news.
  const after = head - verifiedHead - 1;
  const since =
    after > 0 ? html`<p class="muted">${after} record(s) were appended since; this verification does not cover them.</p>` : html``;
  if (!s || s.failedCount === 0)
    return html`<p class="ok" role="status">
        The chain was intact: ${records} record(s) up to record ${verifiedHead}, checked against ${anchors} anchor(s).
      </p>
      ${when} ${since}`;
  const [first] = s.failures;
  const listed = s.failures.map((f) => html`<li>${f.what}: ${f.error}</li>`);
  return html`<p class="bad" role="alert">
      The chain is broken: ${s.failedCount} problem(s) in ${records} record(s), checked against ${anchors} anchor(s).
    </p>
    ${first ? html`<p>First break: ${first.what}: ${first.error}</p>` : html``} ${when}
    <ul>
      ${listed}
    </ul>
    ${s.failedCount > s.failures.length ? html`<p class="muted">The first ${s.failures.length} are listed; run <code>safelist audit verify</code> for all.</p>` : html``}
    ${since}`;
}

function runningBody(r: JobRunRecord | undefined): Html {
  if (!r) return html``;
  const p = r.progress;
  const step = p.total
    ? html`<progress max="${p.total}" value="${p.index ?? 0}">${p.index ?? 0} of ${p.total}</progress> ${p.index ?? 0} of ${p.total}
        record(s) checked`
    : html`starting`;
  return html`<section aria-labelledby="v-running">
    <h2 id="v-running">Running now</h2>
    <p class="warn">
      A verification started by <code>${r.actor}</code> at ${r.startedAt} is running: ${step}. Its verdict shows here when it ends.
    </p>
  </section>`;
}

function unfinishedBody(runs: JobRunRecord[]): Html {
  if (!runs.length) return html``;
  const items = runs.map(
    (r) =>
      html`<li>
        ${r.startedAt} by <code>${r.actor}</code>:
        ${r.status === 'abandoned' ? html`abandoned (no heartbeat since ${r.heartbeatAt})` : html`failed: ${r.error ?? ''}`}
      </li>`,
  );
  return html`<p class="bad">Later verifications gave no verdict:</p>
    <ul>
      ${items}
    </ul>`;
}

function verifyBody(v: VerifyPageView, csrf: string, schedule: string): Html {
  return html`<section aria-labelledby="v-last">
      <h2 id="v-last">Last verification</h2>
      ${verdictBody(v.verdict, v.head)} ${unfinishedBody(v.unfinished)}
    </section>
    ${runningBody(v.running)}
    <form method="post" action="/ui/audit/verify">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <button type="submit">Verify the chain now</button>
    </form>
    <p class="muted">
      Verification recomputes every record's hash and checks the chain against every anchor, one run at a time across replicas.
      ${schedule ? html`Scheduled: <code>${schedule}</code> (audit.verifySchedule).` : html`No schedule (audit.verifySchedule is empty).`}
    </p>
    <p><a href="/ui/audit">Back to the trail</a></p>`;
}

/**
 * Starts a verification in the background; resolves once the run holds its lock and has begun
 * (its first progress event), or with its outcome when it ends first (busy: another run holds
 * the lock, here or on another replica; failed).
 */
function startVerification(runner: JobRunner, actor: string): Promise<'started' | JobOutcome> {
  return new Promise((resolve) => {
    void runner.run(auditVerifyJob, {}, { actor, onEvent: () => resolve('started') }).then(resolve);
  });
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

  const verifyPageOf = async (req: FastifyRequest, reply: FastifyReply, extra: { notice?: string; status?: number } = {}) => {
    if (!deps.jobs) throw errors.notFound('this server runs no jobs');
    const v = await verifyPage(deps.jobs.runs, deps.runtime.audit);
    const body = verifyBody(v, req.consoleSession!.csrf, deps.config.audit.verifySchedule);
    return sendPage(req, reply, { title: 'Audit chain verification', nav: '/ui/audit', body, ...extra });
  };

  app.get('/audit/verify', auditors, (req, reply) => verifyPageOf(req, reply));

  app.post('/audit/verify', auditors, async (req, reply) => {
    if (!deps.jobs) throw errors.notFound('this server runs no jobs');
    const started = await startVerification(deps.jobs, signedIn(req).oid);
    if (started === 'started') return verifyPageOf(req, reply, { status: 202, notice: 'Verification started; its progress is below.' });
    if (started.status === 'busy')
      return verifyPageOf(req, reply, {
        status: 409,
        notice: 'A verification is already running (here or on another replica); its progress is below when this replica can see it.',
      });
    if (started.status === 'failed') throw errors.unavailable(`the verification could not run: ${started.error}`);
    return verifyPageOf(req, reply, { notice: 'Verification finished.' });
  });

  app.get('/audit/export', auditors, async (req, reply) => {
    const { query } = parseAuditFilter(req.query);
    return reply
      .type('application/jsonl')
      .header('content-disposition', 'attachment; filename="safelist-audit.jsonl"')
      .send(Readable.from(deps.runtime.audit.exportLines(query)));
  });
}
