// The download log's jobs: pruning rows past downloads.retention (on its schedule, one replica
// at a time), and the incident report (`safelist incident`), a job so that a CLI beside a server
// that owns the embedded database hands it over like any other. Bodies live in audit/ and gate/.
import { z } from 'zod';
import { durationMs } from '../config/schema.js';
import { pruneDownloads } from '../audit/downloads.js';
import { incidentReport, type IncidentReport } from '../gate/incidents.js';
import type { Job } from './types.js';

const none = z.strictObject({});

/** Deletes download log rows older than downloads.retention. */
export const downloadsPruneJob: Job<z.infer<typeof none>, { pruned: number; before: string }> = {
  name: 'downloads:prune',
  lock: 'downloads:prune',
  schedule: (config) => config.downloads.pruneSchedule,
  params: none,
  async run({ deps: { config, runtime } }) {
    const before = new Date(Date.now() - durationMs(config.downloads.retention));
    return { pruned: await pruneDownloads(runtime.db, before), before: before.toISOString() };
  },
  audit: (r) => (r.pruned ? { action: 'downloads.pruned', subject: 'download_log', detail: r } : undefined),
};

export const incidentParams = z.strictObject({
  ecosystem: z.enum(['pypi', 'conda', 'npm'], { error: 'ecosystem must be pypi, conda or npm' }).default('pypi'),
  name: z.string().min(1, 'name is required').max(200),
  version: z.string().min(1, 'version is required').max(200),
});

/** Who downloaded one package version, and which images the gate knows contain it. Read-only. */
export const incidentReportJob: Job<z.infer<typeof incidentParams>, IncidentReport> = {
  name: 'incident:report',
  lock: 'incident:report',
  params: incidentParams,
  run: async ({ params, deps: { runtime } }) =>
    incidentReport(runtime.db, runtime.policies.policy, params.ecosystem, params.name, params.version),
};
