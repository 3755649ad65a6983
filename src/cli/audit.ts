// `safelist audit verify | anchor | export [--since ISO] [--action A] [--subject S]`
// verify: recompute the hash chain and check it against the anchors; exit 1 naming every
// broken record. anchor: append the current head to the anchor log now. export: JSON Lines.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { auditAnchorJob } from '../jobs/maintenance.js';
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
      json: { type: 'boolean' },
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
  // Anchoring is a job (handed to the server when it owns the embedded database).
  if (sub === 'anchor') return runJobFromCli(config, auditAnchorJob, {}, 'audit anchor');
  const rt = await openRuntime(config, { holder: `safelist audit ${sub}` });
  try {
    if (sub === 'verify') {
      const r = await rt.audit.verify();
      if (values.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(`${r.records} record(s), ${r.anchors} anchor(s), head ${r.head ? `${r.head.seq} ${r.head.hash}` : 'none'}\n`);
        for (const p of r.problems) process.stdout.write(`BROKEN ${p.kind} at record ${p.seq}: ${p.message}\n`);
        process.stdout.write(r.ok ? 'audit log verified: intact\n' : `audit log verification FAILED: ${r.problems.length} problem(s)\n`);
      }
      return r.ok ? 0 : 1;
    }
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
