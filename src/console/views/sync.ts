// The data of the console's sync page: the last runs of each ecosystem's sync and import jobs
// from the runner's records (jobs/runs.ts), a running one's progress, and the failures of the
// last runs. It reads job_runs only; it never starts, stops or judges a job.
import type { Config } from '../../config/schema.js';
import { ecosystems as modules } from '../../ecosystems/index.js';
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

/** The jobs of an ecosystem: its sync, its import from a folder, and the job its sync hands on to (OCI's ACR import) as configured. */
function jobsOf(config: Config, eco: string): string[] {
  const m = modules.get(eco);
  const followUp = m?.sync?.followUp?.(config)?.job;
  return [`sync:${eco}`, ...(m?.importer ? [`import:${eco}`] : []), ...(followUp ? [followUp] : [])];
}

export async function syncPage(runs: JobRuns, config: Config, perJob = 10): Promise<SyncPageView> {
  const jobs = new Map(SYNC_ECOSYSTEMS.map((eco) => [eco, jobsOf(config, eco)]));
  const names = ['sync', ...[...jobs.values()].flat()];
  const all = await runs.latest(names, perJob);
  const ecosystems = SYNC_ECOSYSTEMS.map((ecosystem) => {
    const mine = all.filter((r) => jobs.get(ecosystem)!.includes(r.job));
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
