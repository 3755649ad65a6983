// `safelist import ID DIR [options]` (e.g. `safelist import conda DIR --channel NAME`): the
// import job of a registered ecosystem with an importer (jobs/import.ts), run here or handed to
// the server that owns the embedded database — which reads DIR itself, so the path is made
// absolute first.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { ecosystems } from '../ecosystems/index.js';
import { importJobs } from '../jobs/import.js';
import { runJobFromCli } from './run-job.js';

export async function importCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { channel: { type: 'string' } } });
  const [ecosystem, dir] = positionals;
  const spec = ecosystem ? ecosystems.get(ecosystem)?.importer : undefined;
  const job = ecosystem ? importJobs.get(ecosystem) : undefined;
  if (!spec || !job || !dir) {
    const usages = [...ecosystems.values()].flatMap((m) => (m.importer ? [m.importer.usage] : []));
    process.stderr.write(`usage: ${usages.join(' | ')}\n`);
    return 2;
  }
  const params = spec.fromArgs(resolve(dir), values);
  if ('error' in params) {
    process.stderr.write(`safelist import ${ecosystem}: ${String(params.error)}\n`);
    return 2;
  }
  return runJobFromCli(config, job, params, 'import');
}
