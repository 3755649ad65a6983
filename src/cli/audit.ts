// `safelist audit verify | anchor | export [--since ISO] [--action A] [--subject S]`
// verify: the audit:verify job (recompute the hash chain, check it against the anchors); exit 1
// naming every broken record. anchor: append the current head to the anchor log now. Both are
// jobs, handed to the server when it owns the embedded database. export: JSON Lines.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { auditAnchorJob, auditVerifyJob } from '../jobs/maintenance.js';
import { runJobFromCli } from './run-job.js';

const USAGE = 'usage: safelist audit verify | anchor | export [--since ISO-TIME] [--action A] [--subject S] [--actor ID]\n';

export async function auditCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      since: { type: 'string' },
      action: { type: 'string' },
      subject: { type: 'string' },
      actor: { type: 'string' },
    },
  });
  const sub = positionals[0];
  if (sub !== 'verify' && sub !== 'anchor' && sub !== 'export') {
    process.stderr.write(USAGE);
    return 2;
  }
  const since = values.since ? new Date(values.since) : undefined;
  if (since && Number.isNaN(since.getTime())) {
    process.stderr.write(`safelist audit: --since "${values.since}" is not a date/time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)\n`);
    return 2;
  }
  // Anchoring and verification are jobs (handed to the server when it owns the embedded database).
  if (sub === 'anchor') return runJobFromCli(config, auditAnchorJob, {}, 'audit anchor');
  if (sub === 'verify') return runJobFromCli(config, auditVerifyJob, {}, 'audit verify');
  const rt = await openRuntime(config, { holder: `safelist audit ${sub}` });
  try {
    for await (const r of rt.audit.records({
      ...(since ? { since } : {}),
      ...(values.action ? { action: values.action } : {}),
      ...(values.subject ? { subject: values.subject } : {}),
      ...(values.actor ? { actor: values.actor } : {}),
    })) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    return 0;
  } finally {
    await rt.close();
  }
}
