// `safelist incident NAME==VERSION [--ecosystem pypi|conda|npm]`: every view and identity that
// downloaded the version (first, last, count) and every image the gate knows contains it.
// The report is the incident:report job (jobs/downloads.ts), run here or handed to the server
// that owns the embedded database. Read-only: it never blocks, requeues or deletes anything.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { incidentReportJob } from '../jobs/downloads.js';
import { runJobFromCli } from './run-job.js';

const USAGE = 'usage: safelist incident NAME==VERSION [--ecosystem pypi|conda|npm]   (default pypi)\n';

export async function incidentCommand(config: Config, argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { ecosystem: { type: 'string', default: 'pypi' } } });
  } catch (err) {
    process.stderr.write(`safelist incident: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const m = positionals.length === 1 ? /^([^=\s]+)==([^=\s]+)$/.exec(positionals[0]!) : null;
  if (!m) {
    process.stderr.write(`safelist incident: name one package version as NAME==VERSION, e.g. demo-pkg==1.1\n${USAGE}`);
    return 2;
  }
  const params = incidentReportJob.params.safeParse({ ecosystem: values.ecosystem, name: m[1], version: m[2] });
  if (!params.success) {
    process.stderr.write(`safelist incident: ${params.error.issues.map((i) => i.message).join('; ')}\n${USAGE}`);
    return 2;
  }
  return runJobFromCli(config, incidentReportJob, params.data, 'incident');
}
