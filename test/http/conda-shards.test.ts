// CEP 16 sharded repodata over real HTTP: the index (no-cache, strong ETag, 304), content-addressed
// shards (immutable, named by the sha256 of their bytes, 304), each shard equal to the view's
// filtered repodata.json for its package name (indexed_timestamp included), and the policy on
// every shard URL: a shard of a name the view may not install is 403 with the reason, a
// superseded or unknown hash 404.
//
// No msgpack library is a dependency yet, so this file serves the shards through a second app
// whose CondaIndex is given TEST_ENCODER: JSON with byte strings as {"$bin": hex}. It checks the
// routes, the policy and the content, NOT the msgpack byte format; rattler reading real shards
// (test/e2e/conda-solve.test.ts asks for them first) waits for @msgpack/msgpack.
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CondaIndex } from '../../src/ecosystems/conda/index.js';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import type { MsgpackEncoder } from '../../src/ecosystems/conda/shards.js';
import { buildApp } from '../../src/http/app.js';
import { buildCondaPackage, type BuiltCondaPackage } from '../support/conda-channel.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TEST_ENCODER: MsgpackEncoder = {
  encode: (value) => Buffer.from(JSON.stringify(value, (_k, v: unknown) => (isBufferJson(v) ? { $bin: Buffer.from(v.data).toString('hex') } : v))),
};

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

/** Reads what TEST_ENCODER wrote, byte strings back as hex (as repodata.json has them). */
function decode(zst: Buffer): unknown {
  return JSON.parse(zstdDecompressSync(zst).toString(), (_k, v: unknown) => (typeof v === 'object' && v !== null && '$bin' in v ? (v as { $bin: string }).$bin : v));
}

const ALLOWLIST = ['channels:', '  conda-forge:', '    - safelib >=1,<2', '    - app', '    - pydep'].join('\n');

type Records = Record<string, Record<string, unknown>>;
type Repodata = { packages: Records; 'packages.conda': Records };
type Index = { version: number; info: { subdir: string; base_url: string; shards_base_url: string }; shards: Record<string, string> };

describe('CEP 16 sharded repodata', () => {
  let sl: TestSafelist;
  let app: FastifyInstance;
  let url = '';
  const pk: Record<string, BuiltCondaPackage> = {};

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      condaAllowlist: ALLOWLIST,
      condaChannels: [{ name: 'conda-forge', url: 'https://conda.anaconda.org/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false }],
      exceptions: {
        'c.yaml': 'exceptions:\n  - { id: C-9, ecosystem: conda, package: "safelib 2.0.*", channel: conda-forge, view: team-a, reason: needs 2.0, expires: 2099-12-31 }\n',
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-shards-'));
    pk.lib10 = await buildCondaPackage(dir, { name: 'safelib', version: '1.0' });
    pk.lib15 = await buildCondaPackage(dir, { name: 'safelib', version: '1.5', format: 'tar.bz2' });
    pk.lib20 = await buildCondaPackage(dir, { name: 'safelib', version: '2.0' });
    pk.app = await buildCondaPackage(dir, { name: 'app', version: '1.0', depends: ['safelib >=1', 'pydep'] });
    pk.pydep = await buildCondaPackage(dir, { name: 'pydep', version: '1.0', subdir: 'noarch' });
    pk.blocked = await buildCondaPackage(dir, { name: 'blocked', version: '1.0' });
    const report = await importCondaDir(dir, { store: sl.runtime.store, catalog: sl.runtime.condaCatalog, channel: 'conda-forge' });
    expect(report.skipped).toEqual([]);
    const rt = sl.runtime;
    const conda = new CondaIndex(rt.condaCatalog, rt.policies, sl.config.conda.channels, { maxBytes: 10_000_000, msgpack: TEST_ENCODER });
    app = await buildApp({ db: rt.db, store: rt.store, policies: rt.policies, pypi: rt.pypi, conda, condaGzip: false, logLevel: 'silent' });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await sl?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });
  const fetchIndex = async (view: string, subdir = 'linux-64') => {
    const res = await get(`/conda/${view}/conda-forge/${subdir}/repodata_shards.msgpack.zst`);
    expect(res.status).toBe(200);
    return { res, index: decode(Buffer.from(await res.arrayBuffer())) as Index };
  };
  const repodata = async (view: string, subdir = 'linux-64') => (await (await get(`/conda/${view}/conda-forge/${subdir}/repodata.json`)).json()) as Repodata;

  it('indexes every name the view may install, relative to the channel, revalidated by ETag', async () => {
    const { res, index } = await fetchIndex('default');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(index.version).toBe(1);
    expect(index.info).toEqual({ subdir: 'linux-64', base_url: './', shards_base_url: './shards/' });
    expect(Object.keys(index.shards).sort()).toEqual(['app', 'safelib']);
    for (const hex of Object.values(index.shards)) expect(hex).toMatch(/^[0-9a-f]{64}$/);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect((await get('/conda/default/conda-forge/linux-64/repodata_shards.msgpack.zst', { 'if-none-match': etag })).status).toBe(304);
    expect(Object.keys((await fetchIndex('default', 'noarch')).index.shards)).toEqual(['pydep']);
  });

  it('serves each shard immutable under the sha256 of its bytes, equal to the filtered repodata.json for that name', async () => {
    for (const view of ['default', 'team-a']) {
      const { index } = await fetchIndex(view);
      const r = await repodata(view);
      for (const [name, hex] of Object.entries(index.shards)) {
        const res = await get(`/conda/${view}/conda-forge/linux-64/shards/${hex}.msgpack.zst`);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        const body = Buffer.from(await res.arrayBuffer());
        expect(createHash('sha256').update(body).digest('hex')).toBe(hex);
        const shard = decode(body) as Repodata & { removed: string[] };
        const only = (recs: Records) => Object.fromEntries(Object.entries(recs).filter(([, rec]) => rec.name === name));
        expect(shard.packages).toEqual(only(r.packages));
        expect(shard['packages.conda']).toEqual(only(r['packages.conda']));
        expect(shard.removed).toEqual([]);
        for (const rec of [...Object.values(shard.packages), ...Object.values(shard['packages.conda'])]) expect(Number.isInteger(rec.indexed_timestamp)).toBe(true);
        expect((await get(`/conda/${view}/conda-forge/linux-64/shards/${hex}.msgpack.zst`, { 'if-none-match': `"${hex}"` })).status).toBe(304);
      }
    }
    // The exception shows: team-a's safelib shard lists 2.0, default's does not.
    const a = (await fetchIndex('team-a')).index.shards.safelib!;
    const d = (await fetchIndex('default')).index.shards.safelib!;
    expect(a).not.toBe(d);
    const shardA = decode(Buffer.from(await (await get(`/conda/team-a/conda-forge/linux-64/shards/${a}.msgpack.zst`)).arrayBuffer())) as Repodata;
    expect(Object.keys(shardA['packages.conda'])).toContain(pk.lib20!.filename);
  });

  it('checks the policy on every shard URL: 403 with the reason for a name the view may not install, 404 otherwise', async () => {
    // Another view's safelib shard (it lists 2.0) is not this view's current one.
    const teamA = (await fetchIndex('team-a')).index.shards.safelib!;
    const stale = await get(`/conda/default/conda-forge/linux-64/shards/${teamA}.msgpack.zst`);
    expect(stale.status).toBe(404);
    expect(((await stale.json()) as { detail: string }).detail).toContain('fetch repodata_shards.msgpack.zst again');
    // A name allowed for a while, then taken off the allowlist: its shard is refused with the reason.
    await sl.setCondaAllowlist(`${ALLOWLIST}\n    - blocked\n`);
    let blockedHex: string;
    try {
      blockedHex = (await fetchIndex('default')).index.shards.blocked!;
      expect(blockedHex).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await sl.setCondaAllowlist(ALLOWLIST);
    }
    expect(Object.keys((await fetchIndex('default')).index.shards)).not.toContain('blocked');
    const refused = await get(`/conda/default/conda-forge/linux-64/shards/${blockedHex}.msgpack.zst`);
    expect(refused.status).toBe(403);
    expect(refused.statusText).toMatch(/^Blocked by Safelist policy - blocked .*is blocked by Safelist policy in view default/);
    expect((await refused.json()) as { code: string; package: string }).toMatchObject({ code: 'BLOCKED_BY_POLICY', package: 'blocked' });
    // Unknown hashes, names that are not shard names, unknown views.
    expect((await get(`/conda/default/conda-forge/linux-64/shards/${'0'.repeat(64)}.msgpack.zst`)).status).toBe(404);
    expect((await get('/conda/default/conda-forge/linux-64/shards/not-a-hash.msgpack.zst')).status).toBe(404);
    expect((await get(`/conda/nope/conda-forge/linux-64/shards/${teamA}.msgpack.zst`)).status).toBe(404);
    expect((await get('/conda/nope/conda-forge/linux-64/repodata_shards.msgpack.zst')).status).toBe(404);
  });

  it('is not offered without a msgpack encoder: 404, so clients use repodata.json', async () => {
    const res = await fetch(`${sl.url}/conda/default/conda-forge/linux-64/repodata_shards.msgpack.zst`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toContain('use repodata.json');
  });
});
