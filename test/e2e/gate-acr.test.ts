// The gate against an Azure Container Registry, through the real ACR data-plane SDK
// (@azure/container-registry): a local ACR front (test/support/acr.ts: ACR's token exchange,
// manifest attributes, listing and native webhook) over a real docker-registry serving TLS.
// skopeo pushes through the front, which fires ACR's push webhook; the gate re-reads the
// manifest and its layers with the SDK (Entra token → ACR refresh → access token), and a
// failing image is first blocked (readEnabled=false) and then deleted by digest. A locked
// image (deleteEnabled=false) that only the reconcile finds stays blocked and is reported.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcrFront, type AcrFront } from '../support/acr.js';
import { startHookReceiver, type HookReceiver } from '../support/hook.js';
import { createLayout, sh, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { selfSignedCert, type TestCert } from '../support/tls.js';
import { until } from '../support/wait.js';

const SECRET = 'acr-webhook-secret-0123456789abcdef';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const AAD_TOKEN = 'fake-entra-token-for-acr';
const USER = { username: 'pusher', password: 'push-secret-123' };
const credential: TokenCredential = { getToken: async () => ({ token: AAD_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const METADATA = (name: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`;

describe('gate: Azure Container Registry (block, then purge, through the ACR SDK)', () => {
  let dir: string;
  let tls: TestCert;
  let registry: TestRegistry;
  let front: AcrFront;
  let sl: TestSafelist;
  let layout: Layout;
  let hook: HookReceiver;
  const api = async (path: string) => {
    const res = await fetch(`${sl.url}${path}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const decided = (digest: string, also: (v: Record<string, any>) => boolean = () => true) =>
    until(async () => {
      const r = await api(`/api/v1/gate/verdicts/${digest}`);
      return r.status === 200 && r.json.state !== 'pending' && also(r.json) ? r.json : undefined;
    }, `the verdict of ${digest}`);
  const inspect = (ref: string) =>
    sh('skopeo', ['inspect', '--raw', '--cert-dir', dir, '--creds', `${USER.username}:${USER.password}`, `docker://${front.host}/${ref}`]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-gate-acr-'));
    tls = await selfSignedCert(dir);
    await writeFile(join(dir, 'ca.crt'), tls.cert); // skopeo's --cert-dir trusts *.crt as CAs
    hook = await startHookReceiver();
    const port = await freePort();
    registry = await startRegistry({ tls });
    front = await startAcrFront(registry, tls, {
      aadToken: AAD_TOKEN,
      user: USER,
      webhook: { url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/acr`, headers: { 'X-Safelist-Webhook-Secret': SECRET } },
    });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - pip\n',
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'warn' },
        auth: { tokens: [{ id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline', 'auditor'] }] },
        gate: {
          registries: [{ name: 'acr', url: front.url, kind: 'acr' }],
          acrWebhook: { secret: SECRET },
          providers: ['contents'],
          contents: { views: [{ match: '**', view: 'default' }] },
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
          notify: [{ url: hook.url }],
        },
      },
      server: { azureCredential: credential, azureClientOptions: { tlsOptions: { ca: tls.cert } } },
    });
    layout = await createLayout();
    await layout.image('clean', {
      'app/readme.txt': 'clean\n',
      'usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA': METADATA('pip'),
    });
    await layout.image('smuggled', { 'usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA': METADATA('evil') });
    await layout.image('locked', { 'usr/lib/python3/dist-packages/other-1.0.dist-info/METADATA': METADATA('other') });
  });
  afterAll(async () => {
    await sl?.stop();
    await front?.stop();
    await registry?.stop();
    await layout?.remove();
    await hook?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes a clean image pushed to ACR, read back through the SDK with ACR tokens', async () => {
    const digest = await layout.push('clean', front.host, 'team/app:v1', { creds: `${USER.username}:${USER.password}` });
    await until(() => front.deliveries.find((d) => d.digest === digest), 'the ACR webhook delivery');
    expect(front.deliveries.find((d) => d.digest === digest)!.status).toBe(202);
    const v = await decided(digest);
    expect(v.state).toBe('pass');
    expect(v.blocked).toBeNull();
    // The SDK re-read the manifest by digest and the layers, with a token for the pull scope.
    expect(front.log).toContain(`GET /v2/team/app/manifests/${digest}`);
    expect(front.log.some((l) => /^GET \/v2\/team\/app\/blobs\/sha256:/.test(l))).toBe(true);
    expect(front.grants).toContain('repository:team/app:pull');
    await inspect(`team/app@${digest}`);
  });

  it('blocks a failing image first, then deletes it by digest; every step audited and notified', async () => {
    const digest = await layout.push('smuggled', front.host, 'team/app:v2', { creds: `${USER.username}:${USER.password}` });
    const v = await decided(digest, (x) => x.purged !== null);
    expect(v.state).toBe('fail');
    expect(v.verdict.failures[0].finding.package).toBe('evil');
    expect(v.blocked).toBe('blocked');
    expect(v.purged).toBe('purged');
    const patch = front.log.indexOf(`PATCH /acr/v1/team/app/_manifests/${digest}`);
    const del = front.log.indexOf(`DELETE /v2/team/app/manifests/${digest}`);
    expect(patch).toBeGreaterThan(-1);
    expect(del).toBeGreaterThan(patch);
    expect(front.attributes.get(digest)?.readEnabled).toBe(false);
    await expect(inspect(`team/app@${digest}`)).rejects.toThrow(/manifest unknown/i);
    const subject = encodeURIComponent(`acr/team/app@${digest}`);
    const actions = (await api(`/api/v1/audit?subject=${subject}`)).json.records.map((r: { action: string }) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['gate.received', 'gate.verdict', 'gate.blocked', 'gate.purged']));
    const note = await until(() => hook.received.find((n) => n.image?.digest === digest), 'the notification');
    expect(note.block).toEqual({ outcome: 'blocked' });
    expect(note.purge.outcome).toBe('purged');
  });

  it('finds an image no webhook announced, blocks it, and reports the delete a lock refuses', async () => {
    // Pushed straight to the registry behind ACR: no webhook, only the reconcile sees it.
    const digest = await layout.push('locked', registry.host, 'team/locked:v1');
    front.attributes.set(digest, { readEnabled: true, writeEnabled: false, deleteEnabled: false, listEnabled: true });
    const [report] = (await sl.reconcileGateNow())!;
    expect(report!.errors).toEqual([]);
    expect(report!.queued).toEqual([{ repository: 'team/locked', tag: 'v1', digest }]);
    expect(front.log).toContain('GET /acr/v1/_catalog');
    expect(front.log).toContain('GET /acr/v1/team/locked/_manifests');
    const v = await decided(digest, (x) => x.purged !== null);
    expect(v.state).toBe('fail');
    expect(v.blocked).toBe('blocked');
    expect(v.purged).toBe('failed');
    await expect(inspect(`team/locked@${digest}`)).rejects.toThrow(/disallowed/);
    const failed = (await api(`/api/v1/audit?action=gate.purge-failed&subject=${encodeURIComponent(`acr/team/locked@${digest}`)}`)).json
      .records;
    expect(failed).toHaveLength(1);
    expect(failed[0].detail).toMatchObject({
      block: 'blocked',
      error: expect.stringMatching(/answered 405 REGISTRY_DISALLOWED_OPERATION: The operation is disallowed/),
    });
    const note = await until(() => hook.received.find((n) => n.image?.digest === digest), 'the notification');
    expect(note.purge.outcome).toBe('purge-failed');
  });
});
