// End-to-end: a real docker-registry upstream holding images built with umoci and pushed with
// skopeo (one multi-platform index among them); Safelist syncs it and real skopeo pulls from
// Safelist. Checks digests equal upstream's, refusals carry the policy message as skopeo
// prints it, a tampered upstream blob is rejected, and the read side speaks the OCI spec.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { registryBlobPath, startRegistry, startTokenGate, type TestRegistry, type TokenGate } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import type { OciSyncReport } from '../../src/ecosystems/oci/sync.js';
import { DB_MODES } from '../support/databases.js';
import { openedOci } from '../../src/ecosystems/oci/module.js';

const ALLOWLIST = `packages:
  - mcr/azureml/app:^1.0.0
  - name: mcr/azureml/multi
    versions: "2024.*"
  - mcr/azureml/tampered:1
`;

interface Pushed {
  app100: string;
  app110: string;
  app200: string;
  multi: string;
  tampered: string;
}

async function buildAndPush(layout: Layout, host: string): Promise<Pushed> {
  await layout.image('base', { 'etc/base.txt': 'shared base layer\n' });
  await layout.image('1.0.0', { 'app/version.txt': '1.0.0\n' }, { from: 'base' });
  await layout.image('1.1.0', { 'app/version.txt': '1.1.0\n' }, { from: 'base' });
  await layout.image('2.0.0', { 'app/version.txt': '2.0.0\n' }, { from: 'base' });
  await layout.image('amd64', { 'app/arch.txt': 'amd64\n' }, { from: 'base', os: 'linux', architecture: 'amd64' });
  await layout.image('arm64', { 'app/arch.txt': 'arm64\n' }, { from: 'base', os: 'linux', architecture: 'arm64' });
  await layout.index('multi', [
    { tag: 'amd64', os: 'linux', architecture: 'amd64' },
    { tag: 'arm64', os: 'linux', architecture: 'arm64', variant: 'v8' },
  ]);
  await layout.image('tampered', { 'data/tamper-me.txt': 'these bytes will be changed in the registry storage\n' });
  return {
    app100: await layout.push('1.0.0', host, 'azureml/app:1.0.0'),
    // Docker schema 2 as well as OCI manifests.
    app110: await layout.push('1.1.0', host, 'azureml/app:1.1.0', { format: 'v2s2' }),
    app200: await layout.push('2.0.0', host, 'azureml/app:2.0.0'),
    multi: await layout.push('multi', host, 'azureml/multi:2024.01'),
    tampered: await layout.push('tampered', host, 'azureml/tampered:1'),
  };
}

async function manifestJson(
  base: string,
  repo: string,
  ref: string,
): Promise<{
  layers?: Array<{ digest: string }>;
  manifests?: Array<{ digest: string; platform: { architecture: string } }>;
  config?: { digest: string };
}> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    headers: {
      accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  if (!res.ok) throw new Error(`${repo}:${ref} -> ${res.status}`);
  return (await res.json()) as never;
}

/** Raw request (fetch would normalise ../ and %2e away before sending). */
function rawGet(url: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function skopeo(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await sh('skopeo', args);
    return { ok: true, out: r.stdout + r.stderr };
  } catch (err) {
    return { ok: false, out: (err as { stderr?: string }).stderr ?? (err as Error).message };
  }
}

describe.each(DB_MODES)('OCI mirror against a real docker-registry and skopeo (%s)', (db) => {
  let registry: TestRegistry;
  let layout: Layout;
  let safelist: TestSafelist;
  let pushed: Pushed;
  let report: OciSyncReport;
  let host: string;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'safelist-oci-e2e-'));
    registry = await startRegistry();
    layout = await createLayout();
    pushed = await buildAndPush(layout, registry.host);
    // Tamper with the only layer of azureml/tampered:1 in the registry's own storage.
    const tamperedLayer = (await manifestJson(registry.url, 'azureml/tampered', '1')).layers![0]!.digest;
    const path = registryBlobPath(registry, tamperedLayer);
    const bytes = await readFile(path);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    await writeFile(path, bytes);
    safelist = await startTestSafelist({ db, ociAllowlist: ALLOWLIST, ociUpstreams: [{ name: 'mcr', url: registry.url }] });
    host = new URL(safelist.url).host;
    report = (await safelist.syncOciNow())!;
  });

  afterAll(async () => {
    await safelist?.stop();
    await registry?.stop();
    await layout?.remove();
    await rm(tmp, { recursive: true, force: true });
  });

  it('syncs the allowed tags, every platform of the index, and rejects the tampered blob', () => {
    const byName = Object.fromEntries(report.images.map((i) => [i.name, i.synced.sort()]));
    expect(byName['mcr/azureml/app']).toEqual(['1.0.0', '1.1.0']);
    expect(byName['mcr/azureml/multi']).toEqual(['2024.01']);
    expect(byName['mcr/azureml/tampered']).toEqual([]);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]!.filename).toBe('mcr/azureml/tampered:1');
    // The upstream client checks each blob against its digest as it streams (UpstreamError INTEGRITY).
    expect(report.failed[0]!.error).toMatch(/has sha256 [0-9a-f]{64}, not the expected [0-9a-f]{64}; refusing it/);
    expect(openedOci(safelist.runtime).catalog.tagDigest('mcr/azureml/tampered', '1')).toBeUndefined();
  });

  it('stores shared layers once and is idempotent on a rerun', async () => {
    const catalog = openedOci(safelist.runtime).catalog;
    const blobs = new Set<string>();
    for (const name of catalog.imageNames())
      for (const refs of catalog.image(name)!.refs.values()) for (const r of refs) if (r.kind === 'blob') blobs.add(r.child);
    // The base layer is referenced by 1.0.0, 1.1.0 and both platforms, but downloaded once.
    // The tampered image's config was stored (it verified) before its layer was refused: +1.
    expect(report.downloaded).toBe(blobs.size + 1);
    const again = (await safelist.syncOciNow())!;
    expect(again.downloaded).toBe(0);
    expect(again.images.find((i) => i.name === 'mcr/azureml/app')!.present.sort()).toEqual(['1.0.0', '1.1.0']);
    expect(again.images.find((i) => i.name === 'mcr/azureml/app')!.synced).toEqual([]);
  });

  it('serves an allowed image to skopeo copy with the digest upstream has', async () => {
    const dest = join(tmp, 'app100');
    const r = await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/mcr/azureml/app:1.0.0`, `oci:${dest}:1.0.0`]);
    expect(r.ok, r.out).toBe(true);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(pushed.app100);
    const inspect = await skopeo(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${host}/mcr/azureml/app:1.1.0`]);
    expect(inspect.out.trim()).toBe(pushed.app110);
  });

  it('serves the multi-platform index and each platform', async () => {
    const dest = join(tmp, 'multi');
    const r = await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${host}/mcr/azureml/multi:2024.01`, `oci:${dest}:m`]);
    expect(r.ok, r.out).toBe(true);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(pushed.multi);
    const arm = await skopeo([
      'copy',
      '--override-arch',
      'arm64',
      '--src-tls-verify=false',
      `docker://${host}/mcr/azureml/multi:2024.01`,
      `oci:${join(tmp, 'arm')}:a`,
    ]);
    expect(arm.ok, arm.out).toBe(true);
  });

  it('refuses a disallowed tag with the policy message, as skopeo prints it', async () => {
    const r = await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/mcr/azureml/app:2.0.0`, `oci:${join(tmp, 'no')}:x`]);
    expect(r.ok).toBe(false);
    expect(r.out).toContain('denied: mcr/azureml/app 2.0.0 is blocked by Safelist policy in view default: allowed versions are ^1.0.0');
    expect(r.out).toContain('safelist why mcr/azureml/app');
    const repo = await skopeo(['inspect', '--tls-verify=false', `docker://${host}/mcr/other/secret:1`]);
    expect(repo.out).toContain(
      'denied: repository mcr/other/secret is blocked by Safelist policy in view default: it is not on the allowlist',
    );
  });

  it('answers an allowed tag that failed to sync with manifest unknown, saying so', async () => {
    const r = await skopeo(['inspect', '--tls-verify=false', `docker://${host}/mcr/azureml/tampered:1`]);
    expect(r.ok).toBe(false);
    expect(r.out).toContain('manifest unknown: mcr/azureml/tampered:1 is allowed in view default but not mirrored yet');
  });

  it('speaks the distribution API: base, HEAD/GET manifests, blobs with Range, tags/list with pagination', async () => {
    const base = await fetch(`${safelist.url}/v2/`);
    expect(base.status).toBe(200);
    expect(base.headers.get('docker-distribution-api-version')).toBe('registry/2.0');

    const head = await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/1.1.0`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(head.headers.get('docker-content-digest')).toBe(pushed.app110);
    const byDigest = await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/${pushed.app110}`);
    const body = Buffer.from(await byDigest.arrayBuffer());
    expect(head.headers.get('content-length')).toBe(String(body.length));
    const upstreamBody = Buffer.from(
      await (
        await fetch(`${registry.url}/v2/azureml/app/manifests/${pushed.app110}`, {
          headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
        })
      ).arrayBuffer(),
    );
    expect(body.equals(upstreamBody)).toBe(true);

    const layer = (JSON.parse(body.toString()) as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
    const ranged = await fetch(`${safelist.url}/v2/mcr/azureml/app/blobs/${layer.digest}`, { headers: { range: 'bytes=0-9' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-9/${layer.size}`);
    expect(ranged.headers.get('docker-content-digest')).toBe(layer.digest);
    expect((await ranged.arrayBuffer()).byteLength).toBe(10);

    const tags = await fetch(`${safelist.url}/v2/mcr/azureml/app/tags/list`);
    expect(await tags.json()).toEqual({ name: 'mcr/azureml/app', tags: ['1.0.0', '1.1.0'] });
    const page = await fetch(`${safelist.url}/v2/mcr/azureml/app/tags/list?n=1`);
    expect(await page.json()).toEqual({ name: 'mcr/azureml/app', tags: ['1.0.0'] });
    expect(page.headers.get('link')).toBe('</v2/mcr/azureml/app/tags/list?n=1&last=1.0.0>; rel="next"');
    const next = await fetch(`${safelist.url}/v2/mcr/azureml/app/tags/list?n=1&last=1.0.0`);
    expect(await next.json()).toEqual({ name: 'mcr/azureml/app', tags: ['1.1.0'] });
    const viewed = await fetch(`${safelist.url}/v2/views/default/mcr/azureml/app/tags/list?n=1`);
    expect(viewed.headers.get('link')).toBe('</v2/views/default/mcr/azureml/app/tags/list?n=1&last=1.0.0>; rel="next"');
    const viaView = await skopeo([
      'inspect',
      '--tls-verify=false',
      '--format',
      '{{.Digest}}',
      `docker://${host}/views/default/mcr/azureml/app:1.0.0`,
    ]);
    expect(viaView.out.trim()).toBe(pushed.app100);
    const list = await skopeo(['list-tags', '--tls-verify=false', `docker://${host}/mcr/azureml/app`]);
    expect(JSON.parse(list.out).Tags).toEqual(['1.0.0', '1.1.0']);
  });

  it('answers bad input with OCI error JSON and a 4xx', async () => {
    const cases: Array<[string, number, string]> = [
      ['/v2/mcr/Azureml/app/manifests/1.0.0', 400, 'NAME_INVALID'],
      ['/v2/mcr/azureml/app/manifests/sha512:abcd', 400, 'DIGEST_INVALID'],
      [`/v2/mcr/azureml/app/blobs/sha256:${'a'.repeat(63)}`, 400, 'DIGEST_INVALID'],
      [`/v2/mcr/azureml/app/blobs/sha256:${'A'.repeat(64)}`, 400, 'DIGEST_INVALID'],
      ['/v2/mcr/azureml/app/manifests/-bad', 400, 'TAG_INVALID'],
      ['/v2/mcr/azureml/../../etc/manifests/1.0.0', 400, 'NAME_INVALID'],
      ['/v2/mcr/azureml/%2e%2e/app/manifests/1.0.0', 400, 'NAME_INVALID'],
      ['/v2/mcr/azureml%2Fapp/manifests/1.0.0', 400, 'NAME_INVALID'],
      ['/v2/mcr//azureml/app/manifests/1.0.0', 400, 'NAME_INVALID'],
      ['/v2/views/nope/mcr/azureml/app/manifests/1.0.0', 404, 'NAME_UNKNOWN'],
      ['/v2/mcr/azureml/app/frobnicate', 404, 'NAME_UNKNOWN'],
      [`/v2/mcr/azureml/app/blobs/sha256:${'0'.repeat(64)}`, 403, 'DENIED'],
      [`/v2/mcr/azureml/app/manifests/${pushed.app200}`, 403, 'DENIED'],
    ];
    for (const [path, status, code] of cases) {
      const r = await rawGet(safelist.url, path);
      expect([path, r.status], r.body).toEqual([path, status]);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(r.body) as { errors: Array<{ code: string; message: string; detail: unknown }> };
      expect([path, body.errors[0]!.code]).toEqual([path, code]);
      expect(body.errors[0]!.message.length).toBeGreaterThan(10);
    }
    const put = await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/1.0.0`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(((await put.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNSUPPORTED');
  });

  it('checks policy on digests: only what an allowed tag reaches in the view, and only pinned platforms', async () => {
    const m100 = await manifestJson(safelist.url, 'mcr/azureml/app', pushed.app100);
    const m110 = await manifestJson(safelist.url, 'mcr/azureml/app', pushed.app110);
    const only100 = m100.layers!.map((l) => l.digest).filter((d) => !m110.layers!.some((l) => l.digest === d));
    expect(only100.length).toBeGreaterThan(0);
    const multi = await manifestJson(safelist.url, 'mcr/azureml/multi', '2024.01');
    const arm = multi.manifests!.find((m) => m.platform.architecture === 'arm64')!.digest;
    await safelist.setOciAllowlist(`packages:
  - mcr/azureml/app:1.1.0
  - name: mcr/azureml/multi
    versions: "2024.*"
    platforms: [linux/amd64]
`);
    try {
      const layer = await fetch(`${safelist.url}/v2/mcr/azureml/app/blobs/${only100[0]}`);
      expect(layer.status).toBe(403);
      expect(((await layer.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain('blocked by Safelist policy');
      expect((await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/${pushed.app100}`)).status).toBe(403);
      expect((await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/${pushed.app110}`)).status).toBe(200);
      // The shared base layer stays readable through the allowed tag.
      expect((await fetch(`${safelist.url}/v2/mcr/azureml/app/blobs/${m110.layers![0]!.digest}`, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${safelist.url}/v2/mcr/azureml/multi/manifests/${arm}`)).status).toBe(403);
      expect((await fetch(`${safelist.url}/v2/mcr/azureml/multi/manifests/2024.01`, { method: 'HEAD' })).status).toBe(200);
      // Pinning a digest that is not the tag's refuses the tag.
      await safelist.setOciAllowlist(`packages:
  - name: mcr/azureml/app
    versions: "1.1.0"
    digests: [sha256:${'1'.repeat(64)}]
`);
      const pinned = await fetch(`${safelist.url}/v2/mcr/azureml/app/manifests/1.1.0`);
      expect(pinned.status).toBe(403);
      expect(((await pinned.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain(
        `digest ${pushed.app110} is not among the pinned digests`,
      );
    } finally {
      await safelist.setOciAllowlist(ALLOWLIST);
    }
  });
});

describe('OCI sync through the bearer-token challenge flow', () => {
  let registry: TestRegistry;
  let gate: TokenGate;
  let layout: Layout;
  let safelist: TestSafelist;

  beforeAll(async () => {
    registry = await startRegistry();
    gate = await startTokenGate(registry);
    layout = await createLayout();
    await layout.image('1.0.0', { 'app/version.txt': 'token flow\n' });
    await layout.push('1.0.0', registry.host, 'azureml/private:1.0.0');
    safelist = await startTestSafelist({
      ociAllowlist: 'packages:\n  - mcr/azureml/private\n',
      ociUpstreams: [{ name: 'mcr', url: gate.url }],
    });
  });

  afterAll(async () => {
    await safelist?.stop();
    await gate?.stop();
    await registry?.stop();
    await layout?.remove();
  });

  it('answers the 401 challenge with a scoped token and syncs', async () => {
    const anonymous = await fetch(`${gate.url}/v2/azureml/private/tags/list`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const report = (await safelist.syncOciNow())!;
    expect(report.failed).toEqual([]);
    expect(report.images[0]!.synced).toEqual(['1.0.0']);
    expect(gate.tokenRequests).toContain('safelist-test-registry repository:azureml/private:pull');
    // One challenge for the first request; the token is reused afterwards.
    expect(gate.tokenRequests).toHaveLength(1);
    const res = await fetch(`${safelist.url}/v2/mcr/azureml/private/manifests/1.0.0`, { method: 'HEAD' });
    expect(res.status).toBe(200);
  });
});
