// The console's sync status page (/ui/sync): per ecosystem, the last runs of its sync and
// import jobs as the runner recorded them (jobs/runs.ts): a running one's progress, the last
// outcome, and failures (failed runs, abandoned runs, files that failed). For admins and
// auditors (the trail already shows every sync to auditors). It must never start a job.
import type { FastifyInstance } from 'fastify';
import { errors } from '../../errors.js';
import type { JobRunRecord } from '../../jobs/runs.js';
import { html, type Html } from '../html.js';
import { dataTable } from '../widgets.js';
import { needs, sendPage, type ConsoleDeps } from '../types.js';
import { syncPage, type SyncEcosystemView } from '../views/sync.js';

const STATUS_CLASS: Record<string, string> = { done: 'ok', failed: 'bad', abandoned: 'bad', running: 'warn' };

function progress(r: JobRunRecord): Html {
  const p = r.progress;
  const counts = Object.entries(p.events)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const step = p.total
    ? html`<progress max="${p.total}" value="${p.index ?? 0}">${p.index ?? 0} of ${p.total}</progress> ${p.index ?? 0} of ${p.total}`
    : html``;
  return html`${step} ${p.current ? html`<span>at ${p.current}</span>` : html``}
    <span class="muted">${counts || 'no events yet'}</span>
    ${p.lastFailure ? html`<br /><span class="bad">last failure:</span> ${p.lastFailure.what}: ${p.lastFailure.error}` : html``}`;
}

function outcome(r: JobRunRecord): Html {
  if (r.status === 'running') return progress(r);
  if (r.status === 'abandoned') return html`no heartbeat since ${r.heartbeatAt}: its process ended without finishing it`;
  if (r.status === 'failed') return html`<span class="bad">${r.error ?? 'failed'}</span>`;
  const s = r.summary;
  const counts = Object.entries(s?.counts ?? {})
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const parts = Object.entries(s?.parts ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const failures = (s?.failures ?? []).map((f) => html`<li>${f.what}: ${f.error}</li>`);
  const warnings = r.progress.events.warning ?? 0;
  return html`${counts || parts || 'done'}
  ${warnings ? html`<br /><span class="warn">${warnings} warning(s)</span>${r.progress.lastWarning ? html`: ${r.progress.lastWarning}` : html``}` : html``}
  ${
    s?.failedCount
      ? html`<br /><span class="bad">${s.failedCount} failed</span>
          <ul>
            ${failures}
          </ul>`
      : html``
  }`;
}

function runsTable(caption: string, runs: JobRunRecord[]): Html {
  if (!runs.length) return html`<p>${caption}: no run recorded yet.</p>`;
  const rows = runs.map(
    (r) =>
      html`<tr>
        <td>${r.job}${r.params.dryRun ? html` <span class="muted">(dry run)</span>` : html``}</td>
        <td class="${STATUS_CLASS[r.status] ?? ''}">${r.status}</td>
        <td>${r.startedAt}</td>
        <td>${r.finishedAt ?? ''}</td>
        <td>${r.actor}</td>
        <td>${outcome(r)}</td>
      </tr>`,
  );
  return dataTable(caption, ['Job', 'Status', 'Started', 'Finished', 'Started by', 'Progress or outcome'], rows);
}

function ecosystemSection(e: SyncEcosystemView): Html {
  const summary = e.running
    ? html`<p class="warn">Running since ${e.running.startedAt}.</p>`
    : e.last
      ? html`<p>Last run ${e.last.status} at ${e.last.finishedAt ?? e.last.heartbeatAt}.</p>`
      : html``;
  return html`<section>
    <h2>${e.ecosystem}</h2>
    ${summary} ${e.failures.length ? html`<p class="bad">${e.failures.length} of the last runs had failures.</p>` : html``}
    ${runsTable(`Last runs of ${e.ecosystem}`, e.runs)}
  </section>`;
}

export function registerSyncPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/sync', { preHandler: needs('admin', 'auditor') }, async (req, reply) => {
    if (!deps.jobs) throw errors.notFound('this server runs no jobs');
    const v = await syncPage(deps.jobs.runs, deps.config);
    const body = html`${v.ecosystems.map(ecosystemSection)} ${runsTable('Scheduled sync sequences', v.sequences)}`;
    return sendPage(req, reply, { title: 'Sync status', nav: '/ui/sync', body });
  });
}
