// Runs jobs on their node-cron schedules through the runner (one run at a time per job in this
// process; across replicas the job's lock elects one). Returns the stop function.
import cron from 'node-cron';
import type { Config } from '../config/schema.js';
import type { JobRunner } from './runner.js';
import type { AnyJob } from './types.js';

export function scheduleJobs(runner: JobRunner, config: Config, jobs: Iterable<{ job: AnyJob; params: unknown }>): () => Promise<void> {
  const tasks: Array<ReturnType<typeof cron.schedule>> = [];
  for (const { job, params } of jobs) {
    const expression = job.schedule?.(config);
    if (!expression) continue;
    tasks.push(cron.schedule(expression, () => void runner.shared(job, params)));
  }
  return async () => {
    for (const t of tasks) await t.stop();
  };
}
