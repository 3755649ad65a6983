// `safelist sync [--ecosystem pypi|conda|oci|all] [--dry-run] [--project NAME ...] [--channel NAME ...]`
// Without --ecosystem, PyPI is synced, then conda when a conda allowlist has entries, then OCI
// when oci.upstreams are configured. One JSON summary line per ecosystem on stdout.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime, type Runtime } from '../runtime.js';
import { runPypiSync } from '../sync/pypi-sync.js';
import { runOciSync } from '../sync/oci-sync.js';
import { runCondaSync } from '../sync/conda-sync.js';
import { printCondaSyncEvent, printSyncEvent } from './progress.js';

async function syncConda(config: Config, rt: Runtime, dryRun: boolean, channels: string[] | undefined): Promise<number> {
  const c = await runCondaSync(
    { config, policy: rt.policies.policy, catalog: rt.condaCatalog, store: rt.store, db: rt.db },
    { dryRun, onEvent: (e) => printCondaSyncEvent(e), ...(channels ? { channels } : {}) },
  );
  process.stdout.write(`${JSON.stringify({ conda: { downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length, subdirs: c.subdirs } })}\n`);
  for (const f of c.failed) process.stderr.write(`failed: ${f.filename}: ${f.error}\n`);
  return c.failed.length ? 1 : 0;
}

async function syncPypi(config: Config, rt: Runtime, dryRun: boolean, only: string[] | undefined): Promise<number> {
  const report = await runPypiSync(
    { config, policy: rt.policies.policy, catalog: rt.pypiCatalog, store: rt.store },
    { dryRun, onEvent: (e) => printSyncEvent(e), ...(only ? { only } : {}) },
  );
  if (dryRun) {
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
}

async function syncOci(config: Config, rt: Runtime, dryRun: boolean, only: string[] | undefined): Promise<number> {
  const report = await runOciSync(
    { config, policy: rt.policies.policy, catalog: rt.ociCatalog, store: rt.store },
    { dryRun, onEvent: (e) => printSyncEvent(e), ...(only ? { only } : {}) },
  );
  if (dryRun) {
    process.stdout.write('oci plan:\n');
    for (const i of report.images) process.stdout.write(`  ${i.name} (${i.upstream}): ${i.tags} upstream tag(s), allowed: ${i.synced.join(', ') || 'none'}\n`);
    for (const m of report.missing) process.stdout.write(`  ${m}: not found upstream\n`);
  } else {
    const synced = report.images.reduce((n, i) => n + i.synced.length, 0);
    const present = report.images.reduce((n, i) => n + i.present.length, 0);
    process.stdout.write(`${JSON.stringify({ ecosystem: 'oci', tags: synced, present, downloaded: report.downloaded, bytes: report.bytes, failed: report.failed.length, missing: report.missing })}\n`);
  }
  for (const f of report.failed) process.stderr.write(`failed: ${f.filename}: ${f.error}\n`);
  return report.failed.length ? 1 : 0;
}

export async function syncCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'dry-run': { type: 'boolean' }, project: { type: 'string', multiple: true }, ecosystem: { type: 'string' }, channel: { type: 'string', multiple: true } },
  });
  const eco = values.ecosystem ?? 'default';
  if (!['pypi', 'conda', 'oci', 'all', 'default'].includes(eco)) {
    process.stderr.write(`safelist sync: --ecosystem must be pypi, conda, oci or all, got "${eco}"\n`);
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    const dryRun = values['dry-run'] ?? false;
    let code = 0;
    if (eco === 'pypi' || eco === 'all' || eco === 'default') code = Math.max(code, await syncPypi(config, rt, dryRun, values.project));
    const condaListed = rt.policies.policy.rules.some((r) => r.ecosystem === 'conda');
    if (eco === 'conda' || eco === 'all' || (eco === 'default' && condaListed)) code = Math.max(code, await syncConda(config, rt, dryRun, values.channel));
    if (eco === 'oci' || eco === 'all' || (eco === 'default' && config.oci.upstreams.length > 0)) {
      code = Math.max(code, await syncOci(config, rt, dryRun, values.project));
    }
    return code;
  } finally {
    await rt.close();
  }
}
