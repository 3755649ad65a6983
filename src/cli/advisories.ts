// `safelist advisories import`: imports the OSV advisories of advisories.sources now, instead of
// waiting for the schedule (a platform team reacting to a malicious package). The job is
// jobs/maintenance.ts advisories:import, run here or handed to the server that owns the
// embedded database; MAL- records block at once on every replica. Never imports anything else.
import type { Config } from '../config/schema.js';
import { advisoryImportJob } from '../jobs/maintenance.js';
import { runJobFromCli } from './run-job.js';

export async function advisoriesCommand(config: Config, argv: string[]): Promise<number> {
  if (argv[0] !== 'import' || argv.length > 1) {
    process.stderr.write('usage: safelist advisories import   (imports advisories.sources now)\n');
    return 2;
  }
  if (!config.advisories.sources.length) {
    process.stderr.write('safelist advisories import: no advisories.sources in the configuration\n');
    return 2;
  }
  return runJobFromCli(config, advisoryImportJob, {}, 'advisories import');
}
