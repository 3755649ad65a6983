// The RegistryClient contract (src/gate/registry.ts), run unchanged against both kinds the gate
// judges: a distribution registry (the real docker-registry) through our own client, and Azure
// Container Registry through the real @azure/container-registry SDK against the local ACR front
// (test/support/acr.ts) over a TLS docker-registry. Images are built with umoci and pushed with
// skopeo; tampering and outages are the real server's own files and a port nothing listens on.
// What it must never allow: a missing image read as readable, bytes that do not hash to their
// digest passed on, a failure told apart by message text or by which registry kind threw.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateSchema } from '../../src/config/schema.js';
import { gateRegistries, type RegistryClient } from '../../src/gate/registry.js';
import { acrEvent, acrPush, distributionEnvelope, distributionPushes, type PushEvent } from '../../src/gate/webhooks.js';
import { UPSTREAM, UpstreamError, type UpstreamErrorCode } from '../../src/upstream/types.js';
import { startAcrFront, type AcrFront } from '../support/acr.js';
import { startHookReceiver } from '../support/hook.js';
import { createLayout, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { registryBlobPath, startRegistry, type TestRegistry } from '../support/registry.js';
import { selfSignedCert } from '../support/tls.js';
import { until } from '../support/wait.js';

interface RegistryWorld {
  client: RegistryClient;
  /** The same kind of client for a registry at a port where nothing listens. */
  down(): Promise<RegistryClient>;
  /** host:port to push to (skopeo), with credentials when the registry wants them. */
  push: { host: string; creds?: string };
  /** The registry's storage (to tamper with a manifest as a corrupted registry would). */
  storage: TestRegistry;
  /** The push notifications the registry sent, as bodies; parsed with the gate's own webhook parser. */
  notifications(): Array<{ kind: 'distribution' | 'acr'; body: unknown }>;
  stop(): Promise<void>;
}

interface RegistrySubject {
  name: string;
  kind: 'distribution' | 'acr';
  start(): Promise<RegistryWorld>;
}

const AAD_TOKEN = 'fake-entra-token-for-acr';
const USER = { username: 'pusher', password: 'push-secret-123' };
const credential: TokenCredential = { getToken: async () => ({ token: AAD_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

const distribution: RegistrySubject = {
  name: 'distribution (docker-registry)',
  kind: 'distribution',
  async start() {
    const hook = await startHookReceiver();
    const registry = await startRegistry({ notify: [{ name: 'gate', url: hook.url }] });
    const client = async (url: string) =>
      (await gateRegistries(gateSchema.parse({ registries: [{ name: 'reg', url }] }), 30_000))[0]!.client;
    return {
      client: await client(registry.url),
      down: async () => client(`http://127.0.0.1:${await freePort()}`),
      push: { host: registry.host },
      storage: registry,
      notifications: () => hook.received.map((body) => ({ kind: 'distribution' as const, body })),
      async stop() {
        await registry.stop();
        await hook.stop();
      },
    };
  },
};

const acr: RegistrySubject = {
  name: 'acr (ACR SDK against the local ACR front)',
  kind: 'acr',
  async start() {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-registry-contract-'));
    const tls = await selfSignedCert(dir);
    await writeFile(join(dir, 'ca.crt'), tls.cert);
    const hook = await startHookReceiver();
    const registry = await startRegistry({ tls });
    const front: AcrFront = await startAcrFront(registry, tls, {
      aadToken: AAD_TOKEN,
      user: USER,
      webhook: { url: hook.url, headers: {} },
    });
    const client = async (url: string) =>
      (
        await gateRegistries(gateSchema.parse({ registries: [{ name: 'reg', url, kind: 'acr' }] }), 30_000, {
          credential,
          clientOptions: { tlsOptions: { ca: tls.cert } },
        })
      )[0]!.client;
    return {
      client: await client(front.url),
      down: async () => client(`https://127.0.0.1:${await freePort()}`),
      push: { host: front.host, creds: `${USER.username}:${USER.password}` },
      storage: registry,
      notifications: () => hook.received.map((body) => ({ kind: 'acr' as const, body })),
      async stop() {
        await front.stop();
        await registry.stop();
        await hook.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failure(p: Promise<unknown>, code: UpstreamErrorCode): Promise<UpstreamError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'an UpstreamError').toBeInstanceOf(UpstreamError);
  expect({ code: (err as UpstreamError).code, upstream: (err as UpstreamError).upstream }).toEqual({ code, upstream: 'reg' });
  return err as UpstreamError;
}

/** The pushes a notification body carries, read by the gate's own webhook parsers (a body they refuse carries none). */
function pushesOf(kind: 'distribution' | 'acr', body: unknown): PushEvent[] {
  if (kind === 'distribution') {
    const envelope = distributionEnvelope.safeParse(body);
    const r = envelope.success ? distributionPushes(envelope.data) : undefined;
    return r && 'pushes' in r ? r.pushes : [];
  }
  const event = acrEvent.safeParse(body);
  const r = event.success ? acrPush(event.data) : undefined;
  return r && 'push' in r ? [r.push] : [];
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.each([distribution, acr])('RegistryClient contract: $name', (subject) => {
  let world: RegistryWorld;
  let layout: Layout;
  const pushed: Record<string, string> = {};

  beforeAll(async () => {
    world = await subject.start();
    layout = await createLayout();
    await layout.image('app', { 'app/readme.txt': 'an image the contract reads\n' });
    await layout.image('doomed', { 'app/readme.txt': 'an image the contract deletes\n' });
    await layout.image('tampered', { 'app/readme.txt': 'an image whose manifest gets corrupted in storage\n' });
    const creds = world.push.creds ? { creds: world.push.creds } : {};
    for (const tag of ['app', 'doomed', 'tampered']) pushed[tag] = await layout.push(tag, world.push.host, `contract/${tag}:v1`, creds);
  }, 180_000);

  afterAll(async () => {
    await world?.stop();
    await layout?.remove();
  });

  it(`is the ${subject.kind} kind`, () => {
    expect(world.client.kind).toBe(subject.kind);
  });

  it('reads a manifest by tag and by digest, with the digest its bytes hash to', async () => {
    const byTag = await world.client.manifest('contract/app', 'v1');
    expect(byTag.digest).toBe(pushed.app);
    expect(sha256(byTag.bytes)).toBe(pushed.app);
    const byDigest = await world.client.manifest('contract/app', pushed.app!);
    expect(byDigest.bytes.equals(byTag.bytes)).toBe(true);
    expect(byDigest.mediaType).toMatch(/manifest/);
  });

  it('streams a layer byte for byte', async () => {
    const m = JSON.parse((await world.client.manifest('contract/app', pushed.app!)).bytes.toString()) as {
      layers: Array<{ digest: string }>;
    };
    const layer = m.layers[0]!.digest;
    const bytes = await readAll(await world.client.blob('contract/app', layer));
    expect(sha256(bytes)).toBe(layer);
    expect(bytes.equals(await readFile(registryBlobPath(world.storage, layer)))).toBe(true);
  });

  it('lists what the registry holds, each image with its digest', async () => {
    const listed = [];
    for await (const item of world.client.list(100, 10)) listed.push(item);
    expect(listed.filter((i) => 'error' in i)).toEqual([]);
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ repository: 'contract/app', digest: pushed.app })]));
  });

  it('says NOT_FOUND for a digest the registry does not have', async () => {
    const err = await failure(world.client.manifest('contract/app', `sha256:${'0'.repeat(64)}`), UPSTREAM.NOT_FOUND);
    expect(err.status).toBe(404);
  });

  it('deletes by digest only: deleted, then gone (NOT_FOUND), then absent', async () => {
    await failure(world.client.deleteManifest('contract/doomed', 'v1'), UPSTREAM.INVALID_REQUEST);
    expect(await world.client.deleteManifest('contract/doomed', pushed.doomed!)).toBe('deleted');
    await failure(world.client.manifest('contract/doomed', pushed.doomed!), UPSTREAM.NOT_FOUND);
    expect(await world.client.deleteManifest('contract/doomed', pushed.doomed!)).toBe('absent');
  });

  it('blocks where the registry can (then the image cannot be read), or says unsupported', async () => {
    const outcome = await world.client.block('contract/app', pushed.app!);
    expect(outcome).toBe(subject.kind === 'acr' ? 'blocked' : 'unsupported');
    if (outcome === 'blocked') await expect(world.client.manifest('contract/app', pushed.app!)).rejects.toBeInstanceOf(UpstreamError);
    else expect((await world.client.manifest('contract/app', pushed.app!)).digest).toBe(pushed.app);
  });

  it('says UNAVAILABLE when the registry cannot be reached', async () => {
    const down = await world.down();
    await failure(down.manifest('contract/app', pushed.app!), UPSTREAM.UNAVAILABLE);
  });

  it('refuses a manifest whose bytes no longer hash to its digest (INTEGRITY)', async () => {
    // Change one hex digit of a digest inside the stored manifest: still valid JSON, other bytes.
    const path = registryBlobPath(world.storage, pushed.tampered!);
    const bytes = await readFile(path);
    const at = bytes.indexOf('sha256:') + 7;
    bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
    await writeFile(path, bytes);
    await failure(world.client.manifest('contract/tampered', pushed.tampered!), UPSTREAM.INTEGRITY);
  });

  it('notifies each push in a form the gate parses into the pushed digest', async () => {
    const events = await until(() => {
      const all = world.notifications().flatMap((n) => pushesOf(n.kind, n.body));
      return all.some((e) => e.digest === pushed.app) ? all : undefined;
    }, 'the push notification of contract/app');
    expect(events).toEqual(expect.arrayContaining([expect.objectContaining({ repository: 'contract/app', digest: pushed.app })]));
  });
});
