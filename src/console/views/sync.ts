// The data of the console's sync page: the last runs of each ecosystem's sync and import jobs
// from the runner's records (jobs/runs.ts), a running one's progress, and the failures of the
// last runs. It reads job_runs only; it never starts, stops or judges a job.
import type { JobRunRecord, JobRuns } from '../../jobs/runs.js';
import { SYNC_ECOSYSTEMS } from '../../jobs/sync.js';

export interface SyncEcosystemView {
  ecosystem: string;
  /** The newest runs of sync:<ecosystem> (and the imports that fill the same catalog), newest first. */
  runs: JobRunRecord[];
  running: JobRunRecord | undefined;
  /** The newest finished run. */
  last: JobRunRecord | undefined;
  /** Runs among these that failed, or finished with files that failed. */
  failures: JobRunRecord[];
}

export interface SyncPageView {
  ecosystems: SyncEcosystemView[];
  /** The composite "sync" runs (the schedule's), newest first. */
  sequences: JobRunRecord[];
}

/** The jobs whose runs fill an ecosystem's catalog. */
const jobsOf = (eco: string) => [`sync:${eco}`, ...(eco === 'oci' ? ['acr-import'] : [`import:${eco}`])];

export async function syncPage(runs: JobRuns, perJob = 10): Promise<SyncPageView> {
  const names = ['sync', ...SYNC_ECOSYSTEMS.flatMap(jobsOf)];
  const all = await runs.latest(names, perJob);
  const ecosystems = SYNC_ECOSYSTEMS.map((ecosystem) => {
    const mine = all.filter((r) => jobsOf(ecosystem).includes(r.job));
    return {
      ecosystem,
      runs: mine,
      running: mine.find((r) => r.status === 'running'),
      last: mine.find((r) => r.status !== 'running'),
      failures: mine.filter((r) => r.status === 'failed' || r.status === 'abandoned' || (r.summary?.failedCount ?? 0) > 0),
    };
  });
  return { ecosystems, sequences: all.filter((r) => r.job === 'sync') };
}
