// `safelist sync [--ecosystem pypi|conda|oci|npm|all] [--dry-run] [--project NAME ...] [--channel NAME ...]`
// Runs the sync job (jobs/sync.ts): without --ecosystem, the ecosystems its one rule picks —
// PyPI, conda when a conda allowlist or exception names a package, OCI when oci.upstreams are
// configured. One JSON summary line per ecosystem on stdout, progress on stderr. Handed to the
// server when it owns the embedded database (run-job.ts).
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { syncJob } from '../jobs/sync.js';
import { runJobFromCli } from './run-job.js';

export async function syncCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'dry-run': { type: 'boolean' },
      project: { type: 'string', multiple: true },
      ecosystem: { type: 'string' },
      channel: { type: 'string', multiple: true },
    },
  });
  const eco = values.ecosystem ?? 'default';
  // npm (issue 12): the fourth ecosystem.
  if (eco !== 'pypi' && eco !== 'conda' && eco !== 'oci' && eco !== 'npm' && eco !== 'all' && eco !== 'default') {
    process.stderr.write(`safelist sync: --ecosystem must be pypi, conda, oci, npm or all, got "${eco}"\n`);
    return 2;
  }
  return runJobFromCli(
    config,
    syncJob,
    {
      ecosystem: eco,
      dryRun: values['dry-run'] ?? false,
      ...(values.project ? { projects: values.project } : {}),
      ...(values.channel ? { channels: values.channel } : {}),
    },
    'sync',
  );
}
