// Benchmark of the container gate: webhook-to-verdict latency with N images pushed at once
// (default 50) to a real docker-registry (Debian, CNCF distribution 2.8) that notifies Safelist.
// Each image is distinct (one small layer, plus a real wheel for the contents check) and pushed
// with its own skopeo process, all started together. Latency per image = the verdict's decision
// time minus the moment its webhook event was accepted (both taken by Safelist); the provider
// is the curated-contents check, which re-reads the manifest and every layer from the registry,
// so the figure is the gate's own work (queue, re-read, layer scan, policy, audit) under load.
// As the limit to compare with, it prints the time skopeo took to push the same images.
//
//   scripts/test-deps && npx tsx bench/gate-latency.ts [--images 50] [--db pglite|pg]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createLayout } from '../test/support/images.js';
import type { DbMode } from '../test/support/databases.js';
import { freePort } from '../test/support/ports.js';
import { startRegistry } from '../test/support/registry.js';
import { startTestSafelist } from '../test/support/safelist.js';

const { values: args } = parseArgs({ options: { images: { type: 'string', default: '50' }, db: { type: 'string', default: 'pglite' } } });
const N = Number(args.images);
const TOKEN = 'bench-webhook-token-0123456789';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const port = await freePort();
const registry = await startRegistry({
  notify: [
    { name: 'safelist', url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/distribution`, headers: { Authorization: `Bearer ${TOKEN}` } },
  ],
});
const sl = await startTestSafelist({
  db: args.db as DbMode,
  allowlist: 'packages:\n  - pip\n',
  extra: {
    server: { host: '127.0.0.1', port, logLevel: 'error' },
    auth: { tokens: [{ id: 'registry', token: TOKEN, roles: ['webhook'] }] },
    gate: { registries: [{ name: 'local', url: registry.url }], providers: ['contents'], pollBase: '1s', reconcileSchedule: '' },
  },
});
const layout = await createLayout();
try {
  for (let i = 0; i < N; i++) {
    await layout.image(`img${i}`, {
      'app/id.txt': `${randomUUID()}\n`,
      'usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\n\n',
    });
  }
  const started = Date.now();
  const pushes = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const t = Date.now();
      const digest = await layout.push(`img${i}`, registry.host, `bench/app${i}:v1`);
      return { digest, pushMs: Date.now() - t };
    }),
  );
  const pushedAll = Date.now() - started;
  const digests = pushes.map((p) => p.digest);
  for (;;) {
    const [row] = await sl.runtime.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM gate_images WHERE digest = ANY($1::text[]) AND state IN ('pass', 'fail', 'no-verdict')",
      [digests],
    );
    if (Number(row!.n) === N) break;
    if (Date.now() - started > 10 * 60_000) throw new Error('not every image got a verdict within 10 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const rows = await sl.runtime.db.query<{ state: string; received: Date | string; decided: string }>(
    `SELECT i.state, min(e.received_at) AS received, i.verdict->>'decidedAt' AS decided
     FROM gate_images i JOIN gate_events e ON e.registry = i.registry AND e.repository = i.repository AND e.digest = i.digest
     WHERE i.digest = ANY($1::text[]) GROUP BY i.registry, i.repository, i.digest, i.state, i.verdict`,
    [digests],
  );
  const latencies = rows.map((r) => Date.parse(r.decided) - new Date(r.received).getTime());
  const states = rows.reduce<Record<string, number>>((a, r) => ({ ...a, [r.state]: (a[r.state] ?? 0) + 1 }), {});
  const pushMs = pushes.map((p) => p.pushMs);
  console.log(`images: ${N} pushed at once (${args.db}); verdicts: ${JSON.stringify(states)}`);
  console.log(`webhook → verdict: p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms, max ${Math.max(...latencies)} ms`);
  console.log(
    `skopeo push (the limit to compare with): p50 ${pct(pushMs, 50)} ms, p99 ${pct(pushMs, 99)} ms; all pushed in ${pushedAll} ms`,
  );
  console.log(`ratio p50 gate / p50 push: ${(pct(latencies, 50) / pct(pushMs, 50)).toFixed(2)}×`);
} finally {
  await sl.stop();
  await registry.stop();
  await layout.remove();
}
