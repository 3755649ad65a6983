// The container gate with Defender for Containers as its scan provider, end to end: a real
// docker-registry notifies Safelist, the worker re-reads the manifest and polls Azure Resource
// Graph (a local HTTPS stub; the real SDK client) until Defender has a result. Not scanned yet
// stays pending (never a pass) and becomes "no verdict" at the deadline; a throttled query is
// retried after Retry-After; an unhealthy image is purged; a healthy one passes.
import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { FAKE_ARM_TOKEN, startDefenderStub, type DefenderStub } from '../support/defender.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import { startTestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const WEBHOOK_TOKEN = 'registry-webhook-token-0123456789';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const credential: TokenCredential = { getToken: async () => ({ token: FAKE_ARM_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

async function gateSetup(stub: DefenderStub, scanDeadline: string) {
  const port = await freePort();
  const registry = await startRegistry({
    notify: [
      {
        name: 'safelist',
        url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/distribution`,
        headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` },
      },
    ],
  });
  const sl = await startTestSafelist({
    extra: {
      server: { host: '127.0.0.1', port, logLevel: 'warn' },
      auth: {
        tokens: [
          { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
          { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline', 'auditor'] },
        ],
      },
      gate: {
        registries: [{ name: 'local', url: registry.url }],
        providers: ['defender'],
        defender: { endpoint: stub.url, subscriptions: ['0000'] },
        pollBase: '200ms',
        pollMax: '1s',
        scanDeadline,
        reconcileSchedule: '',
      },
    },
    server: { azureCredential: credential, azureClientOptions: { tlsOptions: { ca: stub.ca } } },
  });
  const verdict = async (digest: string) => {
    const res = await fetch(`${sl.url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
    return res.status === 200 ? ((await res.json()) as Record<string, any>) : undefined;
  };
  return {
    registry,
    sl,
    verdict,
    stop: async () => {
      await sl.stop();
      await registry.stop();
    },
  };
}

describe('container gate with Defender for Containers', () => {
  let stub: DefenderStub;
  let layout: Layout;
  let g: Awaited<ReturnType<typeof gateSetup>>;

  beforeAll(async () => {
    stub = await startDefenderStub();
    g = await gateSetup(stub, '10m');
    layout = await createLayout();
    await layout.image('one', { 'app/one.txt': `${randomUUID()}\n` });
    await layout.image('two', { 'app/two.txt': `${randomUUID()}\n` });
  });
  afterAll(async () => {
    await g?.stop();
    await stub?.stop();
    await layout?.remove();
  });

  it('keeps an image pending while Defender has not scanned it, then purges it once the result fails the policy', async () => {
    const digest = await layout.push('one', g.registry.host, 'team/app:v1');
    const pending = await until(async () => {
      const v = await g.verdict(digest);
      return v?.reason ? v : undefined;
    }, 'a first poll of Defender');
    expect(pending.state).toBe('pending');
    expect(pending.reason).toMatch(/defender: not scanned yet/);
    stub.scenarios.set(digest, {
      kind: 'individual',
      status: 'Unhealthy',
      software: 'openssl',
      cves: [{ id: 'CVE-2024-5535', severity: 'Critical', fixedVersion: '3.0.14' }],
    });
    const v = await until(async () => {
      const x = await g.verdict(digest);
      return x?.state !== 'pending' && x?.purged ? x : undefined;
    }, 'the verdict and purge');
    expect(v.state).toBe('fail');
    expect(v.purged).toBe('purged');
    expect(v.verdict.failures[0].finding).toMatchObject({ id: 'CVE-2024-5535', severity: 'critical', source: 'defender' });
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${g.registry.host}/team/app@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
  });

  it('passes a healthy image after a throttled query was retried', async () => {
    const before = stub.requests.length;
    stub.forced.push({ status: 429, headers: { 'retry-after': '1' } });
    const digest = await layout.push('two', g.registry.host, 'team/app:v2');
    stub.scenarios.set(digest, { kind: 'individual', status: 'Healthy' });
    const v = await until(async () => {
      const x = await g.verdict(digest);
      return x && x.state !== 'pending' ? x : undefined;
    }, 'the verdict');
    expect(v.state).toBe('pass');
    expect(stub.requests.length - before).toBeGreaterThanOrEqual(2);
  });

  it('answers "no verdict" when Defender never scans the image before the deadline', async () => {
    const short = await gateSetup(stub, '1s');
    try {
      await layout.image('three', { 'app/three.txt': `${randomUUID()}\n` });
      const digest = await layout.push('three', short.registry.host, 'team/never:v1');
      const v = await until(async () => {
        const x = await short.verdict(digest);
        return x && x.state !== 'pending' ? x : undefined;
      }, 'the no-verdict');
      expect(v.state).toBe('no-verdict');
      expect(v.reason).toMatch(/^no scan result by the deadline \(gate.scanDeadline 1s\): defender: not scanned yet/);
    } finally {
      await short.stop();
    }
  });
});
