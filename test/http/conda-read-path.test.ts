// The conda read path over real HTTP, on both storage back ends and both database modes:
// per-view repodata.json (both package kinds, noarch always present), channeldata.json,
// strong ETags and 304s, gzip, repodata.json.zst, CEP 47 indexed_timestamp on every record, 404s
// for the variants Safelist does not produce (the CEP 16 shard index is produced), package files with the hashes the repodata states,
// policy on file requests, channel aliases, the policy API.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { buildCondaPackage, type BuiltCondaPackage } from '../support/conda-channel.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';

const MODES = [
  { name: 'pglite + local folder', db: 'pglite' as const, azure: false },
  { name: 'postgresql + azure blob (azurite)', db: 'pg' as const, azure: true },
];

const ALLOWLIST = ['channels:', '  conda-forge:', '    - safelib >=1,<2', '    - app', '    - pydep'].join('\n');

type Repodata = {
  info: { subdir: string };
  packages: Record<string, Record<string, unknown>>;
  'packages.conda': Record<string, Record<string, unknown>>;
  removed: string[];
  repodata_version: number;
};

describe.each(MODES)('conda read path on $name', (mode) => {
  let sl: TestSafelist;
  let azurite: Azurite | undefined;
  const pk: Record<string, BuiltCondaPackage> = {};

  let importedFrom = 0;
  let importedTo = 0;
  let packagesDir = '';

  beforeAll(async () => {
    if (mode.azure) azurite = await startAzurite();
    sl = await startTestSafelist({
      db: mode.db,
      ...(azurite ? { azure: { connectionString: azurite.connectionString, container: 'safelist-conda' } } : {}),
      views: { 'team-a': {}, careful: { cooldown: '7d' } },
      condaAllowlist: ALLOWLIST,
      condaChannels: [
        {
          name: 'conda-forge',
          url: 'https://conda.anaconda.org/conda-forge',
          alias: ['cf'],
          subdirs: ['linux-64'],
          anacondaTermsAccepted: false,
        },
      ],
      exceptions: {
        'c.yaml':
          'exceptions:\n  - { id: C-9, ecosystem: conda, package: "safelib 2.0.*", channel: conda-forge, view: team-a, reason: needs 2.0, expires: 2099-12-31 }\n',
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-condapkgs-'));
    pk.lib10 = await buildCondaPackage(dir, { name: 'safelib', version: '1.0' });
    pk.lib15 = await buildCondaPackage(dir, { name: 'safelib', version: '1.5', format: 'tar.bz2' });
    pk.lib20 = await buildCondaPackage(dir, { name: 'safelib', version: '2.0' });
    pk.pydep = await buildCondaPackage(dir, { name: 'pydep', version: '1.0', subdir: 'noarch' });
    pk.app = await buildCondaPackage(dir, { name: 'app', version: '1.0', depends: ['safelib >=1', 'pydep'] });
    pk.blocked = await buildCondaPackage(dir, { name: 'blocked', version: '1.0' });
    pk.fresh = await buildCondaPackage(dir, { name: 'safelib', version: '1.9', timestamp: Date.now() });
    packagesDir = dir;
    importedFrom = Date.now();
    const report = await importCondaDir(dir, { store: sl.runtime.store, catalog: openedConda(sl.runtime).catalog, channel: 'conda-forge' });
    importedTo = Date.now();
    expect(report.skipped).toEqual([]);
    expect(report.imported).toHaveLength(7);
  });

  afterAll(async () => {
    await sl?.stop();
    await azurite?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sl.url}${path}`, { headers });
  const repodata = async (path: string): Promise<Repodata> => {
    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    return (await res.json()) as Repodata;
  };

  it('lists only allowed, stored records in packages and packages.conda, with the hashes of the files', async () => {
    const r = await repodata('/conda/default/conda-forge/linux-64/repodata.json');
    expect(r.info).toEqual({ subdir: 'linux-64' });
    expect(Object.keys(r.packages)).toEqual([pk.lib15!.filename]);
    expect(Object.keys(r['packages.conda']).sort()).toEqual([pk.app!.filename, pk.fresh!.filename, pk.lib10!.filename].sort());
    expect(r.removed).toEqual([]);
    expect(r.repodata_version).toBe(1);
    for (const p of [pk.lib15!, pk.lib10!, pk.app!]) {
      const rec = (p.filename.endsWith('.conda') ? r['packages.conda'] : r.packages)[p.filename]!;
      expect(rec.sha256).toBe(p.record.sha256);
      expect(rec.md5).toBe(p.record.md5);
      expect(rec.size).toBe(p.record.size);
      expect(rec.depends).toEqual(p.record.depends);
    }
    // The team-a view sees its exception.
    const a = await repodata('/conda/team-a/conda-forge/linux-64/repodata.json');
    expect(Object.keys(a['packages.conda'])).toContain(pk.lib20!.filename);
  });

  it("holds back versions younger than a view's cool-down, in repodata and on file requests", async () => {
    const r = await repodata('/conda/careful/conda-forge/linux-64/repodata.json');
    expect(Object.keys(r['packages.conda'])).not.toContain(pk.fresh!.filename);
    expect(Object.keys(r['packages.conda'])).toContain(pk.lib10!.filename);
    const res = await get(`/conda/careful/conda-forge/linux-64/${pk.fresh!.filename}`);
    expect(res.status).toBe(403);
    expect(res.statusText).toMatch(/safelib 1\.9 is held back by the cool-down of view careful until/);
  });

  it('always serves noarch, and an empty repodata for a platform without packages', async () => {
    const n = await repodata('/conda/default/conda-forge/noarch/repodata.json');
    expect(Object.keys(n['packages.conda'])).toEqual([pk.pydep!.filename]);
    const o = await repodata('/conda/default/conda-forge/osx-arm64/repodata.json');
    expect(o).toEqual({ info: { subdir: 'osx-arm64' }, packages: {}, 'packages.conda': {}, removed: [], repodata_version: 1 });
    expect((await get('/conda/default/conda-forge/not-a-platform/repodata.json')).status).toBe(404);
  });

  it('answers with strong ETags, 304s and gzip', async () => {
    const path = '/conda/default/conda-forge/linux-64/repodata.json';
    const plain = await get(path, { 'accept-encoding': 'identity' });
    const etag = plain.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(plain.headers.get('cache-control')).toBe('no-cache');
    const body = Buffer.from(await plain.arrayBuffer());
    expect((await get(path, { 'if-none-match': etag })).status).toBe(304);
    // fetch() would decode gzip itself; ask with node:http semantics by reading raw bytes.
    const { request } = await import('node:http');
    const raw = await new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(`${sl.url}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(raw.body)).toEqual(body);
    const gzEtag = raw.headers.etag as string;
    expect(gzEtag).not.toBe(etag);
    expect((await get(path, { 'if-none-match': gzEtag })).status).toBe(304);
    const head = await fetch(`${sl.url}${path}`, { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
    expect(head.headers.get('content-length')).toBe(String(body.length));
  });

  it('serves repodata.json.zst: the same bytes zstd-compressed, with its own strong ETag, 304 and HEAD', async () => {
    for (const view of ['default', 'team-a', 'careful']) {
      const base = `/conda/${view}/conda-forge/linux-64`;
      const plain = await get(`${base}/repodata.json`, { 'accept-encoding': 'identity' });
      const json = Buffer.from(await plain.arrayBuffer());
      const res = await get(`${base}/repodata.json.zst`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/zstd');
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const zst = Buffer.from(await res.arrayBuffer());
      expect(zst.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])); // zstd frame magic
      expect(zstdDecompressSync(zst)).toEqual(json);
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}-zst"$/);
      expect(etag).not.toBe(plain.headers.get('etag'));
      expect((await get(`${base}/repodata.json.zst`, { 'if-none-match': etag })).status).toBe(304);
      // Another representation's tag does not prove the client holds these bytes.
      expect((await get(`${base}/repodata.json.zst`, { 'if-none-match': plain.headers.get('etag')! })).status).toBe(200);
      const head = await fetch(`${sl.url}${base}/repodata.json.zst`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(zst.length));
    }
    // Filtered like repodata.json: the view's policy decides, unknown views and subdirs are 404.
    const a = JSON.parse(
      zstdDecompressSync(Buffer.from(await (await get('/conda/team-a/conda-forge/linux-64/repodata.json.zst')).arrayBuffer())).toString(),
    ) as Repodata;
    expect(Object.keys(a['packages.conda'])).toContain(pk.lib20!.filename);
    expect(Object.keys(a['packages.conda'])).not.toContain(pk.blocked!.filename);
    expect((await get('/conda/nope/conda-forge/linux-64/repodata.json.zst')).status).toBe(404);
    expect((await get('/conda/default/conda-forge/not-a-platform/repodata.json.zst')).status).toBe(404);
  });

  it('follows a policy change in repodata.json.zst: new bytes, new ETag', async () => {
    const path = '/conda/default/conda-forge/linux-64/repodata.json.zst';
    const before = await get(path);
    await sl.setCondaAllowlist(`${ALLOWLIST}\n    - blocked\n`);
    try {
      const after = await get(path, { 'if-none-match': before.headers.get('etag')! });
      expect(after.status).toBe(200);
      const r = JSON.parse(zstdDecompressSync(Buffer.from(await after.arrayBuffer())).toString()) as Repodata;
      expect(Object.keys(r['packages.conda'])).toContain(pk.blocked!.filename);
    } finally {
      await sl.setCondaAllowlist(ALLOWLIST);
    }
  });

  it('gives every record CEP 47 indexed_timestamp: Unix ms of when Safelist first stored it, kept on re-import', async () => {
    const stamps = async () => {
      const r = await repodata('/conda/team-a/conda-forge/linux-64/repodata.json');
      return Object.fromEntries(
        [...Object.entries(r.packages), ...Object.entries(r['packages.conda'])].map(([fn, rec]) => [fn, rec.indexed_timestamp]),
      );
    };
    const first = await stamps();
    expect(Object.keys(first).length).toBeGreaterThan(3);
    for (const [fn, t] of Object.entries(first)) {
      expect(Number.isInteger(t), fn).toBe(true);
      // Milliseconds, from the server's clock at import (PostgreSQL may round to the microsecond).
      expect(t as number, fn).toBeGreaterThanOrEqual(importedFrom - 1000);
      expect(t as number, fn).toBeLessThanOrEqual(importedTo + 1000);
    }
    // The builder's timestamp is left as it was; the fresh package's is its build time, not ours.
    const r = await repodata('/conda/team-a/conda-forge/linux-64/repodata.json');
    expect(r['packages.conda'][pk.lib10!.filename]!.timestamp).toBe(pk.lib10!.record.timestamp);
    const again = await importCondaDir(packagesDir, {
      store: sl.runtime.store,
      catalog: openedConda(sl.runtime).catalog,
      channel: 'conda-forge',
    });
    expect(again.skipped).toEqual([]);
    expect(await stamps()).toEqual(first);
  });

  it('answers 404 for the repodata variants it does not produce, so clients fall back to repodata.json', async () => {
    for (const f of ['repodata.json.bz2', 'repodata.jlap', 'current_repodata.json']) {
      const res = await get(`/conda/default/conda-forge/linux-64/${f}`);
      expect(res.status, f).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { detail: string }).detail).toContain('use repodata.json');
    }
    // CEP 16 sharded repodata is produced (test/http/conda-shards.test.ts reads it).
    expect((await get('/conda/default/conda-forge/linux-64/repodata_shards.msgpack.zst')).status).toBe(200);
  });

  it('serves package files with the sha256 and md5 that the repodata states, HEAD and ranges', async () => {
    const r = await repodata('/conda/default/conda-forge/linux-64/repodata.json');
    for (const [fn, rec] of [...Object.entries(r.packages), ...Object.entries(r['packages.conda'])]) {
      const res = await get(`/conda/default/conda-forge/linux-64/${fn}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${rec.sha256}"`);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(rec.sha256);
      expect(createHash('md5').update(bytes).digest('hex')).toBe(rec.md5);
      expect(bytes.length).toBe(rec.size);
    }
    const head = await fetch(`${sl.url}/conda/default/conda-forge/linux-64/${pk.lib10!.filename}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(pk.lib10!.record.size));
    const part = await get(`/conda/default/conda-forge/linux-64/${pk.lib10!.filename}`, { range: 'bytes=0-9' });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual((await readFile(pk.lib10!.path)).subarray(0, 10));
  });

  it('checks the policy on file requests too: 403 problem+json with a reason phrase', async () => {
    for (const [view, p] of [
      ['default', pk.lib20!],
      ['default', pk.blocked!],
      ['team-a', pk.blocked!],
    ] as const) {
      const res = await get(`/conda/${view}/conda-forge/linux-64/${p.filename}`);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.statusText).toMatch(
        new RegExp(`^Blocked by Safelist policy - ${p.record.name} .*is blocked by Safelist policy in view ${view}`),
      );
      const body = (await res.json()) as { code: string; package: string };
      expect(body.code).toBe('BLOCKED_BY_POLICY');
      expect(body.package).toBe(p.record.name);
    }
    expect((await get(`/conda/team-a/conda-forge/linux-64/${pk.lib20!.filename}`)).status).toBe(200);
    expect((await get('/conda/default/conda-forge/linux-64/nothing-1.0-0.conda')).status).toBe(404);
    // A file of another subdir is not reachable through this one.
    expect((await get(`/conda/default/conda-forge/noarch/${pk.lib10!.filename}`)).status).toBe(404);
  });

  it('refuses unknown views and channels with a message that lists what exists', async () => {
    const v = await get('/conda/nope/conda-forge/linux-64/repodata.json');
    expect(v.status).toBe(404);
    expect(((await v.json()) as { detail: string }).detail).toContain('configured views: default, team-a, careful');
    const c = await get('/conda/default/bioconda/linux-64/repodata.json');
    expect(c.status).toBe(404);
    expect(((await c.json()) as { detail: string }).detail).toContain('channels: conda-forge, cf');
  });

  it('resolves a channel alias to the same curated channel', async () => {
    const a = await get('/conda/default/cf/linux-64/repodata.json', { 'accept-encoding': 'identity' });
    const b = await get('/conda/default/conda-forge/linux-64/repodata.json', { 'accept-encoding': 'identity' });
    expect(await a.text()).toBe(await b.text());
    expect((await get(`/conda/default/cf/linux-64/${pk.lib10!.filename}`)).status).toBe(200);
  });

  it('serves channeldata.json for the view', async () => {
    const res = await get('/conda/default/conda-forge/channeldata.json');
    expect(res.status).toBe(200);
    const cd = (await res.json()) as {
      channeldata_version: number;
      packages: Record<string, { subdirs: string[]; version: string }>;
      subdirs: string[];
    };
    expect(cd.channeldata_version).toBe(1);
    expect(Object.keys(cd.packages).sort()).toEqual(['app', 'pydep', 'safelib']);
    expect(cd.packages.safelib).toMatchObject({ subdirs: ['linux-64'], version: '1.9' });
    expect(cd.packages.pydep).toMatchObject({ subdirs: ['noarch'] });
    expect(cd.subdirs).toEqual(['linux-64', 'noarch']);
  });

  it('explains decisions through the policy check API for conda name, version and view', async () => {
    const q = (s: string) =>
      get(`/api/v1/policy/check?${s}`).then(
        (r) => r.json() as Promise<{ allowed: boolean; code: string; reason: string; rule: { channel: string | null } | null }>,
      );
    const no = await q('ecosystem=conda&name=safelib&version=2.0&view=default');
    expect(no).toMatchObject({ allowed: false, code: 'version-not-allowed' });
    expect(no.reason).toContain('allowed versions are >=1,<2');
    expect(await q('ecosystem=conda&name=safelib&version=2.0&view=team-a&channel=conda-forge')).toMatchObject({ allowed: true });
    expect(await q('ecosystem=conda&name=safelib&version=1.5&view=default&channel=bioconda')).toMatchObject({
      allowed: false,
      code: 'not-listed',
    });
    const yes = await q('ecosystem=conda&name=SafeLib&version=1.5&view=default');
    expect(yes.allowed).toBe(true);
    expect(yes.rule?.channel).toBe('conda-forge');
  });

  it('explains through the why API which versions a view gets and which it refuses', async () => {
    const res = await get('/api/v1/policy/why?ecosystem=conda&name=safelib&view=default');
    expect(res.status).toBe(200);
    const e = (await res.json()) as { status: string; available: string[]; refused: Array<{ version: string; reason: string }> };
    expect(e.status).toBe('partly-allowed');
    expect(e.available.some((v) => v.startsWith('1.5 ') && v.endsWith('(conda-forge/linux-64)'))).toBe(true);
    const refused = e.refused.find((r) => r.version.startsWith('2.0 '));
    expect(refused?.reason).toMatch(
      /safelib 2\.0 \S+ \(linux-64\) is blocked by Safelist policy in view default: allowed versions are >=1,<2/,
    );
  });

  it('follows policy changes: a new allowlist changes the document and its ETag', async () => {
    const path = '/conda/default/conda-forge/linux-64/repodata.json';
    const before = await get(path, { 'accept-encoding': 'identity' });
    await sl.setCondaAllowlist(`${ALLOWLIST}\n    - blocked\n`);
    try {
      const after = await get(path, { 'accept-encoding': 'identity', 'if-none-match': before.headers.get('etag')! });
      expect(after.status).toBe(200);
      expect(Object.keys(((await after.json()) as Repodata)['packages.conda'])).toContain(pk.blocked!.filename);
      expect((await get(`/conda/default/conda-forge/linux-64/${pk.blocked!.filename}`)).status).toBe(200);
    } finally {
      await sl.setCondaAllowlist(ALLOWLIST);
    }
  });
});
