// `safelist acr-import [--dry-run] [--all]`: imports the allowlisted, mirrored images of
// oci.acrTarget.view into the configured Azure Container Registry (ARM importImage, by digest),
// authenticating with DefaultAzureCredential (managed identity, workload identity, az login).
// Tags the target already holds at the same digest are skipped unless --all. The job is the OCI
// module's own (module.jobs, registered with every job), run here or handed to the server that
// owns the embedded database. It never runs without a target configured: it says which key to set.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { moduleJobs } from '../jobs/module-jobs.js';
import { runJobFromCli } from './run-job.js';

const JOB = 'acr-import';

export async function acrImportCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' }, all: { type: 'boolean' } } });
  const job = moduleJobs.get(JOB);
  const why = job ? job.unavailable?.(config) : 'no registered ecosystem has this job';
  if (!job || why) {
    process.stderr.write(`safelist ${JOB}: ${why}\n`);
    return 2;
  }
  return runJobFromCli(config, job, { dryRun: values['dry-run'] === true, all: values.all === true }, JOB);
}
