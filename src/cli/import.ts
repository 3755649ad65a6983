// `safelist import pypi DIR` and `safelist import conda DIR [--channel NAME]`: the import jobs
// (jobs/import.ts), run here or handed to the server that owns the embedded database — which
// reads DIR itself, so the path is made absolute first.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { importCondaJob, importPypiJob } from '../jobs/import.js';
import { runJobFromCli } from './run-job.js';

export async function importCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { channel: { type: 'string' } } });
  const [ecosystem, dir] = positionals;
  if ((ecosystem !== 'pypi' && ecosystem !== 'conda') || !dir) {
    process.stderr.write('usage: safelist import pypi DIR | safelist import conda DIR [--channel NAME]\n');
    return 2;
  }
  if (ecosystem === 'conda')
    return runJobFromCli(config, importCondaJob, { dir: resolve(dir), ...(values.channel ? { channel: values.channel } : {}) }, 'import');
  return runJobFromCli(config, importPypiJob, { dir: resolve(dir) }, 'import');
}
