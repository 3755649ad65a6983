// Two Safelist replicas on one PostgreSQL database run the container gate together: both
// reconcile the same registry at once and both workers compete for the queue, yet each image is
// received once and gets exactly one verdict (one audit record each).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase } from '../support/databases.js';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';

describe('gate on two replicas', () => {
  let registry: TestRegistry;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let a: TestSafelist;
  let b: TestSafelist;
  let layout: Layout;
  const digests: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    db = await createPgDatabase();
    const opts = {
      databaseUrl: db.url,
      extra: {
        auth: { tokens: [{ id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] as const }] },
        gate: { registries: [{ name: 'shared', url: registry.url }], pollBase: '100ms', pollMax: '500ms', reconcileSchedule: '' },
      },
    };
    a = await startTestSafelist(opts as never);
    b = await startTestSafelist(opts as never);
    layout = await createLayout();
    for (let i = 0; i < 6; i++) {
      await layout.image(`img${i}`, { 'f.txt': `image ${i}\n` });
      digests.push(await layout.push(`img${i}`, registry.host, `team/app:v${i}`));
    }
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
    await registry?.stop();
    await layout?.remove();
  });

  it('receives and judges every image exactly once', async () => {
    // At once: one replica takes the reconcile lock (the other gets undefined, or finds nothing new).
    const runs = (await Promise.all([a.reconcileGateNow(), b.reconcileGateNow()])).filter((r) => r !== undefined);
    const queued = runs
      .flatMap((r) => r!.flatMap((x) => x.queued))
      .map((q) => q.digest)
      .sort();
    expect(queued).toEqual([...digests].sort()); // each digest queued once
    for (const [i, digest] of digests.entries()) {
      const via = i % 2 ? a : b;
      const res = await fetch(`${via.url}/api/v1/gate/reports/${digest}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ SchemaVersion: 2, ArtifactName: `team/app:v${i}`, Results: [] }),
      });
      expect(res.status).toBe(201);
    }
    await until(async () => {
      const verdicts = await a.runtime.audit.query({ action: 'gate.verdict', limit: 1000 });
      return verdicts.length >= digests.length ? verdicts : undefined;
    }, 'a verdict for every image');
    await new Promise((r) => setTimeout(r, 1500)); // a second worker pass would add duplicates now
    const verdicts = await a.runtime.audit.query({ action: 'gate.verdict', limit: 1000 });
    const received = await a.runtime.audit.query({ action: 'gate.received', limit: 1000 });
    const per = (rs: typeof verdicts) => rs.map((r) => r.subject).sort();
    expect(per(verdicts)).toHaveLength(digests.length);
    expect(new Set(per(verdicts)).size).toBe(digests.length);
    expect(new Set(per(received)).size).toBe(received.length);
    expect((await a.runtime.audit.verify()).ok).toBe(true);
  });
});
