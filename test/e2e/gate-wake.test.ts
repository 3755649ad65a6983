// A report wakes the gate at once, with a poll interval of 10 minutes, on two replicas sharing a
// PostgreSQL database (the registry notifies replica A; either replica's worker may take the
// image). Right after a push, the usual pipeline order, the report is judged within seconds.
// And the race that used to cost a whole poll interval, made deterministic: a worker is held in
// the middle of its pass (its registry reads wait at a proxy) while the report is posted to the
// OTHER replica; when the pass ends, its "ask again in 10 minutes" must not win over the report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase } from '../support/databases.js';
import { createLayout, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { startHoldProxy, type HoldProxy } from '../support/hold-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const WEBHOOK_TOKEN = 'registry-webhook-token-0123456789';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
/** Far below the 10-minute poll interval, generous for a loaded machine: a functional bound, not a timing measurement. */
const BOUND_MS = 15_000;

describe('gate: a posted report wakes the worker at once (two replicas, pollBase 10m)', () => {
  let registry: TestRegistry;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  const proxies: HoldProxy[] = [];
  const replicas: TestSafelist[] = [];
  let layout: Layout;

  const postReport = (via: TestSafelist, digest: string, ref: string) =>
    fetch(`${via.url}/api/v1/gate/reports/${digest}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ SchemaVersion: 2, ArtifactName: ref, Results: [] }),
    });
  let last = 'not seen yet';
  const state = async (via: TestSafelist, digest: string) => {
    const r = await fetch(`${via.url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
    if (r.status !== 200) return undefined;
    const doc = (await r.json()) as { state: string; reason: string | null };
    last = `${doc.state}: ${doc.reason ?? ''}`;
    return doc.state;
  };
  const decided = (via: TestSafelist, digest: string) =>
    until(
      async () => {
        const s = await state(via, digest);
        return s && s !== 'pending' ? s : undefined;
      },
      `a verdict for ${digest} well before the 10-minute poll interval`,
      BOUND_MS,
    ).catch((err: Error) => {
      throw new Error(`${err.message} (last seen: ${last})`);
    });

  beforeAll(async () => {
    const portA = await freePort();
    registry = await startRegistry({
      notify: [
        {
          name: 'safelist',
          url: `http://127.0.0.1:${portA}/api/v1/gate/webhooks/distribution`,
          headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` },
        },
      ],
    });
    db = await createPgDatabase();
    for (const port of [portA, 0]) {
      // Each replica reads the registry through its own proxy, so the test sees which one holds an image.
      const proxy = await startHoldProxy(registry.url);
      proxies.push(proxy);
      replicas.push(
        await startTestSafelist({
          databaseUrl: db.url,
          extra: {
            server: { host: '127.0.0.1', port, logLevel: 'warn' },
            auth: {
              tokens: [
                { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
                { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] },
              ],
            },
            gate: {
              registries: [{ name: 'shared', url: proxy.url, host: registry.host }],
              providers: ['reports', 'contents'],
              pollBase: '10m',
              pollMax: '15m',
              reconcileSchedule: '',
            },
          },
        }),
      );
    }
    layout = await createLayout();
    await layout.image('first', { 'app/first.txt': 'first\n' });
    await layout.image('held', { 'app/held.txt': 'held\n' });
  });
  afterAll(async () => {
    for (const p of proxies) p.release();
    for (const r of replicas) await r.stop();
    for (const p of proxies) await p.stop();
    await db?.drop();
    await registry?.stop();
    await layout?.remove();
  });

  it('judges a report posted right after the push without waiting the poll interval', async () => {
    const digest = await layout.push('first', registry.host, 'team/app:v1');
    expect((await postReport(replicas[1]!, digest, 'team/app:v1')).status).toBe(201);
    expect(await decided(replicas[0]!, digest)).toBe('pass');
  });

  it('judges at once a report that reaches one replica while the other is in the middle of judging the image', async () => {
    for (const p of proxies) p.hold(/\/blobs\//);
    const digest = await layout.push('held', registry.host, 'team/app:v2');
    // A worker has taken the image and is reading its layers (the reports provider already said "no report").
    await until(() => proxies.some((p) => p.waiting > 0), 'a worker to start reading the layers');
    const holder = proxies.findIndex((p) => p.waiting > 0);
    const other = replicas[1 - holder]!;
    expect((await postReport(other, digest, 'team/app:v2')).status).toBe(201);
    expect(await state(other, digest)).toBe('pending');
    for (const p of proxies) p.release();
    expect(await decided(other, digest)).toBe('pass');
    const verdicts = await replicas[0]!.runtime.audit.query({ action: 'gate.verdict', subject: `shared/team/app@${digest}` });
    expect(verdicts).toHaveLength(1);
  });
});
