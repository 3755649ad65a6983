// `safelist acr-import [--dry-run] [--all]`: imports the allowlisted, mirrored images of
// oci.acrTarget.view into the configured Azure Container Registry (ARM importImage, by digest),
// authenticating with DefaultAzureCredential (managed identity, workload identity, az login).
// Tags the target already holds at the same digest are skipped unless --all. The job is
// jobs/acr-import.ts, run here or handed to the server that owns the embedded database.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { acrImportJob } from '../jobs/acr-import.js';
import { runJobFromCli } from './run-job.js';

export async function acrImportCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' }, all: { type: 'boolean' } } });
  if (!config.oci.acrTarget) {
    process.stderr.write('safelist acr-import: no oci.acrTarget is configured (subscriptionId, resourceGroup, registryName)\n');
    return 2;
  }
  return runJobFromCli(config, acrImportJob, { dryRun: values['dry-run'] === true, all: values.all === true }, 'acr-import');
}
