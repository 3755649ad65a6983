// The gate's reconcile against a real docker-registry that notifies nobody (as when ACR drops
// a webhook: it never retries): listing the registry queues the images no webhook announced,
// once, and they get a verdict like any other; images already known are left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';

describe('gate reconcile', () => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;

  beforeAll(async () => {
    registry = await startRegistry();
    sl = await startTestSafelist({
      extra: {
        auth: { tokens: [{ id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] }] },
        gate: { registries: [{ name: 'quiet', url: registry.url }], pollBase: '200ms', pollMax: '1s', reconcileSchedule: '' },
      },
    });
    layout = await createLayout();
    await layout.image('a', { 'a.txt': 'a\n' });
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
  });

  it('queues an image whose push was never notified, once, and it gets a verdict', async () => {
    const digest = await layout.push('a', registry.host, 'team/quiet:v1');
    const [report] = (await sl.reconcileGateNow())!;
    expect(report).toEqual({
      registry: 'quiet',
      repositories: 1,
      images: 1,
      queued: [{ repository: 'team/quiet', tag: 'v1', digest }],
      errors: [],
    });
    const again = (await sl.reconcileGateNow())!;
    expect(again[0]!.queued).toEqual([]);
    const res = await fetch(`${sl.url}/api/v1/gate/reports/${digest}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ SchemaVersion: 2, ArtifactName: 'team/quiet:v1', Results: [] }),
    });
    expect(res.status).toBe(201);
    const v = await until(async () => {
      const r = await fetch(`${sl.url}/api/v1/gate/verdicts?image=${encodeURIComponent('team/quiet:v1')}`, {
        headers: { authorization: `Bearer ${PIPELINE_TOKEN}` },
      });
      const body = (await r.json()) as { state?: string };
      return r.status === 200 && body.state !== 'pending' ? body : undefined;
    }, 'the verdict');
    expect(v.state).toBe('pass');
    const received = await sl.runtime.audit.query({ action: 'gate.received' });
    expect(received.map((r) => r.detail.source)).toEqual(['reconcile']);
  });
});
