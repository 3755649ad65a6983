// `safelist incident NAME==VERSION [--ecosystem ID]` (an ecosystem whose packages images contain): every view and identity that
// downloaded the version (first, last, count) and every image the gate knows contains it.
// `safelist incident REPOSITORY@sha256:… | REPOSITORY:TAG`: every view and identity that pulled
// the image through /v2, when, and the gate's verdict history for its digest.
// The report is the incident:report job (jobs/downloads.ts), run here or handed to the server
// that owns the embedded database. Read-only: it never blocks, requeues or deletes anything.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { ecosystems } from '../ecosystems/index.js';
import { parseImageReference } from '../gate/image-incidents.js';
import { incidentReportJob } from '../jobs/downloads.js';
import { runJobFromCli } from './run-job.js';

const CHOICES = [...ecosystems.values()].filter((m) => m.contents).map((m) => m.id);
const USAGE =
  `usage: safelist incident NAME==VERSION [--ecosystem ${CHOICES.join('|')}]   (default ${CHOICES[0]})\n` +
  '       safelist incident REPOSITORY@sha256:DIGEST | REPOSITORY:TAG   (an image pulled through /v2)\n';

export async function incidentCommand(config: Config, argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { ecosystem: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`safelist incident: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const arg = positionals.length === 1 ? positionals[0]! : '';
  const m = /^([^=\s]+)==([^=\s]+)$/.exec(arg);
  const image = !m && /[@:]/.test(arg) ? arg : undefined;
  if (!m && !image) {
    process.stderr.write(
      `safelist incident: name one package version as NAME==VERSION, e.g. demo-pkg==1.1, or one image as REPOSITORY@sha256:… or REPOSITORY:TAG\n${USAGE}`,
    );
    return 2;
  }
  if (image) {
    try {
      parseImageReference(image);
    } catch (err) {
      process.stderr.write(`safelist incident: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
  }
  const params = incidentReportJob.params.safeParse(image ? { image } : { ecosystem: values.ecosystem, name: m![1], version: m![2] });
  if (!params.success) {
    process.stderr.write(`safelist incident: ${params.error.issues.map((i) => i.message).join('; ')}\n${USAGE}`);
    return 2;
  }
  return runJobFromCli(config, incidentReportJob, params.data, 'incident');
}
