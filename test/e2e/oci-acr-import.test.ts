// The ACR target against a local HTTPS stub of the ARM contract for Registries - Import Image:
// POST …/registries/{name}/importImage?api-version=… answers 202 with Azure-AsyncOperation and
// Location; the operation status resource goes InProgress → Succeeded or Failed. The real
// @azure/arm-containerregistry client talks to it (fake token credential, a self-signed
// certificate made here for 127.0.0.1).
import { ociConfig } from '../../src/ecosystems/oci/config.js';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../support/tls.js';
import { type Config } from '../../src/config/schema.js';
import { importToAcr, planAcrImport, runAcrTarget } from '../../src/ecosystems/oci/acr-target.js';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { OciCatalog } from '../../src/ecosystems/oci/catalog.js';
import { PolicyStore } from '../../src/policy/store.js';
import { configSchema, grammars, openStateDb } from '../../src/ecosystems/index.js';
import type { Db } from '../../src/state/db.js';
import { seededPglite } from '../support/databases.js';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'ml-platform';
const ACR = 'curatedbase';
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const MANIFEST_ACCEPT =
  'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json';
const credential: TokenCredential = { getToken: async () => ({ token: 'fake-arm-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

interface ImportCall {
  apiVersion: string | null;
  authorization: string | undefined;
  body: { source: { registryUri?: string; sourceImage: string; credentials?: unknown }; targetTags?: string[]; mode?: string };
}

/** The ARM side of importImage, as documented: long-running, polled through Azure-AsyncOperation. */
async function startArmStub(dir: string) {
  const tls = await selfSignedCert(dir);
  const cert = Buffer.from(tls.cert);
  const calls: ImportCall[] = [];
  const polls = new Map<string, number>();
  const outcome = new Map<string, { ok: boolean; message?: string }>();
  const prefix = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerRegistry`;
  const server = https.createServer({ key: tls.key, cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    if (req.headers.authorization !== 'Bearer fake-arm-token')
      return json(401, { error: { code: 'AuthenticationFailed', message: 'no token' } });
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
      if (req.method === 'POST' && url.pathname === `${prefix}/registries/${ACR}/importImage`) {
        const body = JSON.parse(raw) as ImportCall['body'];
        calls.push({ apiVersion: url.searchParams.get('api-version'), authorization: req.headers.authorization, body });
        if (!body.source?.sourceImage) return json(400, { error: { code: 'InvalidParameter', message: 'source.sourceImage is required' } });
        const id = randomUUID();
        polls.set(id, 0);
        const missing = { ok: false, message: `Image '${body.source.sourceImage}' not found in source registry` };
        // A local source registry is asked for real (as ACR asks the source); others by name.
        const local = body.source.registryUri?.startsWith('127.0.0.1:');
        const [repo, ref] = body.source.sourceImage.split('@') as [string, string];
        void (
          local
            ? fetch(`http://${body.source.registryUri}/v2/${repo}/manifests/${ref}`, {
                method: 'HEAD',
                headers: { accept: MANIFEST_ACCEPT },
              }).then(
                (r) => (r.ok ? { ok: true } : missing),
                () => missing,
              )
            : Promise.resolve(repo === 'azureml/broken' ? missing : { ok: true })
        ).then((o) => {
          outcome.set(id, o);
          json(202, undefined, {
            'azure-asyncoperation': `${base}${prefix}/locations/westeurope/operationStatuses/${id}?api-version=${url.searchParams.get('api-version')}`,
            location: `${base}${prefix}/locations/westeurope/operationResults/${id}?api-version=${url.searchParams.get('api-version')}`,
            'retry-after': '0',
          });
        });
        return;
      }
      const status = /\/operationStatuses\/([0-9a-f-]+)$/.exec(url.pathname);
      if (req.method === 'GET' && status && polls.has(status[1]!)) {
        const id = status[1]!;
        const n = polls.get(id)! + 1;
        polls.set(id, n);
        if (n < 2) return json(200, { id, status: 'InProgress' });
        const o = outcome.get(id) ?? { ok: false, message: 'unknown operation' };
        return json(
          200,
          o.ok ? { id, status: 'Succeeded' } : { id, status: 'Failed', error: { code: 'ImportImageFailed', message: o.message } },
        );
      }
      const result = /\/operationResults\/([0-9a-f-]+)$/.exec(url.pathname);
      // The final GET of a finished import answers like the operation itself: 200 (documented responses: 200, 202).
      if (req.method === 'GET' && result && polls.has(result[1]!)) return json(outcome.get(result[1]!)!.ok ? 200 : 400, undefined);
      return json(404, { error: { code: 'ResourceNotFound', message: `${req.method} ${url.pathname}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    cert,
    calls,
    polls,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('ACR target: importImage through the real ARM SDK against a stub of the contract', () => {
  let dir: string;
  let stub: Awaited<ReturnType<typeof startArmStub>>;
  let db: Db;
  let catalog: OciCatalog;
  let config: Config;
  let policies: PolicyStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-acr-'));
    stub = await startArmStub(dir);
    await mkdir(join(dir, 'allowlists'));
    await writeFile(join(dir, 'allowlists', 'oci.yaml'), 'packages:\n  - mcr/azureml/app:^1\n  - mcr/azureml/broken\n');
    config = configSchema.parse({
      policy: { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') },
      oci: {
        upstreams: [{ name: 'mcr', url: 'https://mcr.microsoft.com' }],
        acrTarget: { subscriptionId: SUB, resourceGroup: RG, registryName: ACR, endpoint: stub.url },
      },
    });
    policies = PolicyStore.empty(config, grammars);
    await policies.reload();
    db = await openStateDb(seededPglite());
    catalog = new OciCatalog(db);
    await catalog.open();
    const tag = async (name: string, t: string, d: string) =>
      catalog.commitTag({
        name,
        tag: t,
        digest: d,
        source: 'mcr',
        manifests: [{ digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400 }],
        refs: [],
      });
    await tag('mcr/azureml/app', '1.0.0', digest('a'));
    await tag('mcr/azureml/app', '2.0.0', digest('b'));
    await tag('mcr/azureml/broken', 'latest', digest('c'));
  });

  afterAll(async () => {
    await catalog?.close();
    await db?.close();
    await stub?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('plans the allowed tags by digest and imports them, reporting a failed operation', async () => {
    const plan = planAcrImport(catalog, policies.policy, ociConfig.of(config).acrTarget!, ociConfig.of(config).upstreams);
    expect(plan.problems).toEqual([]);
    expect(plan.items.map((i) => `${i.name}:${i.tag}`)).toEqual(['mcr/azureml/app:1.0.0', 'mcr/azureml/broken:latest']);

    const client = new ContainerRegistryManagementClient(credential, SUB, { endpoint: stub.url, tlsOptions: { ca: stub.cert.toString() } });
    const events: string[] = [];
    const report = await importToAcr(client, ociConfig.of(config).acrTarget!, plan.items, {
      updateIntervalInMs: 1,
      onEvent: (e) => events.push(`${e.type} ${e.image}`),
    });

    expect(report.imported).toEqual([{ image: 'mcr/azureml/app:1.0.0', digest: digest('a') }]);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]!.image).toBe('mcr/azureml/broken:latest');
    expect(report.failed[0]!.error).toContain(`Image 'azureml/broken@${digest('c')}' not found in source registry`);
    expect(events).toEqual([
      'importing mcr/azureml/app:1.0.0',
      'imported mcr/azureml/app:1.0.0',
      'importing mcr/azureml/broken:latest',
      'failed mcr/azureml/broken:latest',
    ]);

    expect(stub.calls).toHaveLength(2);
    expect(stub.calls[0]!.apiVersion).toMatch(/^\d{4}-\d{2}-\d{2}/);
    expect(stub.calls[0]!.body).toEqual({
      source: { registryUri: 'mcr.microsoft.com', sourceImage: `azureml/app@${digest('a')}` },
      targetTags: ['azureml/app:1.0.0'],
      mode: 'Force',
    });
    // Each operation was polled until it finished.
    for (const n of stub.polls.values()) expect(n).toBeGreaterThanOrEqual(2);
  });

  it('imports only what is new or moved on the next run; failures are retried', async () => {
    const client = new ContainerRegistryManagementClient(credential, SUB, { endpoint: stub.url, tlsOptions: { ca: stub.cert.toString() } });
    const deps = {
      db,
      catalog,
      policy: policies.policy,
      target: ociConfig.of(config).acrTarget!,
      upstreams: ociConfig.of(config).upstreams,
      client,
    };
    const first = await runAcrTarget(deps, { updateIntervalInMs: 1 });
    expect(first.imported.map((i) => i.image)).toEqual(['mcr/azureml/app:1.0.0']);
    const before = stub.calls.length;
    const again = await runAcrTarget(deps, { updateIntervalInMs: 1 });
    expect(again).toMatchObject({ imported: [], unchanged: 1, failed: [{ image: 'mcr/azureml/broken:latest' }] });
    expect(stub.calls.slice(before).map((c) => c.body.source.sourceImage)).toEqual([`azureml/broken@${digest('c')}`]);
    // The tag moved upstream (and the mirror followed): imported again at its new digest.
    await catalog.commitTag({
      name: 'mcr/azureml/app',
      tag: '1.0.0',
      digest: digest('d'),
      source: 'mcr',
      manifests: [{ digest: digest('d'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400 }],
      refs: [],
    });
    const moved = await runAcrTarget(deps, { updateIntervalInMs: 1 });
    expect(moved.imported).toEqual([{ image: 'mcr/azureml/app:1.0.0', digest: digest('d') }]);
  });
});

describe('ACR target following the mirror: the server imports after every OCI sync', () => {
  let dir: string;
  let stub: Awaited<ReturnType<typeof startArmStub>>;
  let registry: TestRegistry;
  let layout: Layout;
  let sl: TestSafelist;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-acr-follow-'));
    stub = await startArmStub(dir);
    registry = await startRegistry();
    layout = await createLayout();
    await layout.image('one', { 'app/one.txt': 'one\n' });
    await layout.image('two', { 'app/two.txt': 'two\n' });
    sl = await startTestSafelist({
      ociAllowlist: 'packages:\n  - mcr/azureml/app:^1\n',
      extra: {
        oci: {
          upstreams: [{ name: 'mcr', url: registry.url }],
          acrTarget: {
            subscriptionId: SUB,
            resourceGroup: RG,
            registryName: ACR,
            endpoint: stub.url,
            afterSync: true,
            sourceRegistries: { mcr: registry.host },
          },
        },
      },
      server: { azureCredential: credential, azureClientOptions: { tlsOptions: { ca: stub.cert.toString() } } },
    });
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
    await stub?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('imports newly mirrored allowed tags by digest, once, and audits it', async () => {
    const d1 = await layout.push('one', registry.host, 'azureml/app:1.0.0');
    await layout.push('two', registry.host, 'azureml/app:2.0.0'); // not allowed: never imported
    await sl.syncOciNow();
    expect(stub.calls.map((c) => c.body)).toEqual([
      { source: { registryUri: registry.host, sourceImage: `azureml/app@${d1}` }, targetTags: ['azureml/app:1.0.0'], mode: 'Force' },
    ]);
    await sl.syncOciNow();
    expect(stub.calls).toHaveLength(1);
    const d2 = await layout.push('two', registry.host, 'azureml/app:1.1.0');
    await sl.syncOciNow();
    expect(stub.calls.map((c) => c.body.source.sourceImage)).toEqual([`azureml/app@${d1}`, `azureml/app@${d2}`]);
    const audit = (await sl.runtime.audit.query({ action: 'oci.acr-imported' })) as unknown as Array<{
      detail: { imported: Array<{ image: string }> };
    }>;
    expect(audit.map((r) => r.detail.imported.map((i) => i.image))).toEqual([['mcr/azureml/app:1.0.0'], ['mcr/azureml/app:1.1.0']]);
  });
});
