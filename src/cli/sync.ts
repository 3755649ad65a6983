// `safelist sync [--dry-run] [--project NAME ...]`
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { runPypiSync } from '../sync/pypi-sync.js';
import { printSyncEvent } from './progress.js';

export async function syncCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' }, project: { type: 'string', multiple: true } } });
  const rt = await openRuntime(config);
  try {
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
    return report.failed.length ? 1 : 0;
  } finally {
    await rt.close();
  }
}
