// `safelist sync [--dry-run] [--ecosystem pypi|conda] [--project NAME ...] [--channel NAME ...]`
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { runPypiSync } from '../sync/pypi-sync.js';
import { runCondaSync } from '../sync/conda-sync.js';
import { printCondaSyncEvent, printSyncEvent } from './progress.js';

export async function syncCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'dry-run': { type: 'boolean' }, project: { type: 'string', multiple: true }, ecosystem: { type: 'string' }, channel: { type: 'string', multiple: true } },
  });
  if (values.ecosystem !== undefined && values.ecosystem !== 'pypi' && values.ecosystem !== 'conda') {
    process.stderr.write('safelist sync: --ecosystem is pypi or conda (default: both)\n');
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    let failed = 0;
    if (values.ecosystem !== 'pypi') {
      const c = await runCondaSync(
        { config, policy: rt.policies.policy, catalog: rt.condaCatalog, store: rt.store, db: rt.db },
        { dryRun: values['dry-run'] ?? false, onEvent: (e) => printCondaSyncEvent(e), ...(values.channel ? { channels: values.channel } : {}) },
      );
      process.stdout.write(`${JSON.stringify({ conda: { downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length, subdirs: c.subdirs } })}\n`);
      for (const f of c.failed) process.stderr.write(`failed: ${f.filename}: ${f.error}\n`);
      failed += c.failed.length;
      if (values.ecosystem === 'conda') return failed ? 1 : 0;
    }
    const report = await runPypiSync(
      { config, policy: rt.policies.policy, catalog: rt.pypiCatalog, store: rt.store },
      { dryRun: values['dry-run'] ?? false, onEvent: (e) => printSyncEvent(e), ...(values.project ? { only: values.project } : {}) },
    );
    if (values['dry-run']) {
      process.stdout.write('plan:\n');
      for (const p of report.plan) {
        process.stdout.write(`  ${p.project} (${p.upstream}): fetch ${p.fetch.length}, present ${p.present}, record only ${p.recordOnly}\n`);
        for (const f of p.fetch) process.stdout.write(`    + ${f.filename}${f.size !== undefined ? ` (${f.size} bytes)` : ''}\n`);
      }
      for (const m of report.missing) process.stdout.write(`  ${m}: not found on any upstream\n`);
    } else {
      process.stdout.write(`${JSON.stringify({ downloaded: report.downloaded, bytes: report.bytes, failed: report.failed.length, missing: report.missing })}\n`);
    }
    for (const f of report.failed) process.stderr.write(`failed: ${f.filename}: ${f.error}\n`);
    return report.failed.length + failed ? 1 : 0;
  } finally {
    await rt.close();
  }
}
