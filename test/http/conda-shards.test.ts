// CEP 16 sharded repodata over real HTTP: the index (no-cache, strong ETag, 304), content-addressed
// shards (immutable, named by the sha256 of their bytes, 304), each shard equal to the view's
// filtered repodata.json for its package name (indexed_timestamp included), and the policy on
// every shard URL: a shard of a name the view may not install is 403 with the reason, a
// superseded or unknown hash 404.
//
// Served by the real server (runtime.ts gives CondaIndex @msgpack/msgpack's encode) and read back
// with @msgpack/msgpack's decode, checking the types rattler's ShardedRepodata and Shard structs
// deserialize (rattler_conda_types repo_data/sharded.rs): shard hashes in the index and the
// records' sha256/md5 are msgpack bin (Uint8Array of 32 and 16 bytes), never hex strings. A
// CondaIndex given no encoder still answers 404, so clients fall back to repodata.json. A shard's
// bytes (so its name) depend on its records only, not on the order the catalog holds them in.
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { decode, encode } from '@msgpack/msgpack';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { condaConfig } from '../../src/ecosystems/conda/config.js';
import { CondaIndex } from '../../src/ecosystems/conda/index.js';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { renderShards } from '../../src/ecosystems/conda/shards.js';
import { buildApp } from '../../src/http/app.js';
import { buildCondaPackage, type BuiltCondaPackage } from '../support/conda-channel.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { registerCondaRoutes } from '../../src/ecosystems/conda/routes.js';
import type { OpenEcosystem } from '../../src/ecosystems/types.js';

/** Reads a served .msgpack.zst as a msgpack client does: bin comes back as Uint8Array. */
function decodeZst(zst: Buffer): unknown {
  return decode(zstdDecompressSync(zst));
}

/** 32 bytes for a sha256, 16 for an md5: what rattler's Sha256Hash and Md5Hash deserialize. */
function expectBin(v: unknown, length: number): string {
  expect(v).toBeInstanceOf(Uint8Array);
  expect((v as Uint8Array).length).toBe(length);
  return Buffer.from(v as Uint8Array).toString('hex');
}

/** A shard's record with its binary hashes checked and turned back into hex, as repodata.json has them. */
function asJsonRecord(rec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...rec, sha256: expectBin(rec.sha256, 32), md5: expectBin(rec.md5, 16) };
  for (const [k, v] of Object.entries(out)) if (v instanceof Uint8Array) throw new Error(`unexpected bin field ${k}`);
  return out;
}

const ALLOWLIST = ['channels:', '  conda-forge:', '    - safelib >=1,<2', '    - app', '    - pydep'].join('\n');

type Records = Record<string, Record<string, unknown>>;
type Repodata = { packages: Records; 'packages.conda': Records };
type Index = { version: number; info: { subdir: string; base_url: string; shards_base_url: string }; shards: Record<string, Uint8Array> };

/** The index's shards map as name → lower-case hex, each value checked to be bin(32). */
const hexShards = (index: Index): Record<string, string> =>
  Object.fromEntries(Object.entries(index.shards).map(([n, h]) => [n, expectBin(h, 32)]));

describe('CEP 16 sharded repodata', () => {
  let sl: TestSafelist;
  const pk: Record<string, BuiltCondaPackage> = {};

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      condaAllowlist: ALLOWLIST,
      condaChannels: [
        {
          name: 'conda-forge',
          url: 'https://conda.anaconda.org/conda-forge',
          alias: [],
          subdirs: ['linux-64'],
          anacondaTermsAccepted: false,
        },
      ],
      exceptions: {
        'c.yaml':
          'exceptions:\n  - { id: C-9, ecosystem: conda, package: "safelib 2.0.*", channel: conda-forge, view: team-a, reason: needs 2.0, expires: 2099-12-31 }\n',
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-shards-'));
    pk.lib10 = await buildCondaPackage(dir, { name: 'safelib', version: '1.0' });
    pk.lib15 = await buildCondaPackage(dir, { name: 'safelib', version: '1.5', format: 'tar.bz2' });
    pk.lib20 = await buildCondaPackage(dir, { name: 'safelib', version: '2.0' });
    pk.app = await buildCondaPackage(dir, { name: 'app', version: '1.0', depends: ['safelib >=1', 'pydep'] });
    pk.pydep = await buildCondaPackage(dir, { name: 'pydep', version: '1.0', subdir: 'noarch' });
    pk.blocked = await buildCondaPackage(dir, { name: 'blocked', version: '1.0' });
    const report = await importCondaDir(dir, { store: sl.runtime.store, catalog: openedConda(sl.runtime).catalog, channel: 'conda-forge' });
    expect(report.skipped).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sl.url}${path}`, { headers });
  const fetchIndex = async (view: string, subdir = 'linux-64') => {
    const res = await get(`/conda/${view}/conda-forge/${subdir}/repodata_shards.msgpack.zst`);
    expect(res.status).toBe(200);
    const index = decodeZst(Buffer.from(await res.arrayBuffer())) as Index;
    return { res, index, shards: hexShards(index) };
  };
  const repodata = async (view: string, subdir = 'linux-64') =>
    (await (await get(`/conda/${view}/conda-forge/${subdir}/repodata.json`)).json()) as Repodata;

  it('indexes every name the view may install, relative to the channel, revalidated by ETag', async () => {
    const { res, index } = await fetchIndex('default');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(index.version).toBe(1);
    expect(index.info).toEqual({ subdir: 'linux-64', base_url: './', shards_base_url: './shards/' });
    expect(Object.keys(index).sort()).toEqual(['info', 'shards', 'version']);
    expect(Object.keys(index.shards).sort()).toEqual(['app', 'safelib']);
    // bin(32) each (hexShards checks), never a hex str: rattler reads them as Sha256Hash.
    for (const hex of Object.values(hexShards(index))) expect(hex).toMatch(/^[0-9a-f]{64}$/);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect((await get('/conda/default/conda-forge/linux-64/repodata_shards.msgpack.zst', { 'if-none-match': etag })).status).toBe(304);
    expect(Object.keys((await fetchIndex('default', 'noarch')).index.shards)).toEqual(['pydep']);
  });

  it('serves each shard immutable under the sha256 of its bytes, equal to the filtered repodata.json for that name', async () => {
    for (const view of ['default', 'team-a']) {
      const { shards } = await fetchIndex(view);
      const r = await repodata(view);
      for (const [name, hex] of Object.entries(shards)) {
        const res = await get(`/conda/${view}/conda-forge/linux-64/shards/${hex}.msgpack.zst`);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        const body = Buffer.from(await res.arrayBuffer());
        expect(createHash('sha256').update(body).digest('hex')).toBe(hex);
        const shard = decodeZst(body) as Repodata & { removed: string[] };
        expect(Object.keys(shard).sort()).toEqual(['packages', 'packages.conda', 'removed']);
        const only = (recs: Records) => Object.fromEntries(Object.entries(recs).filter(([, rec]) => rec.name === name));
        const asJson = (recs: Records) => Object.fromEntries(Object.entries(recs).map(([f, rec]) => [f, asJsonRecord(rec)]));
        expect(asJson(shard.packages)).toEqual(only(r.packages));
        expect(asJson(shard['packages.conda'])).toEqual(only(r['packages.conda']));
        expect(Object.keys(shard.packages).length + Object.keys(shard['packages.conda']).length).toBeGreaterThan(0);
        expect(shard.removed).toEqual([]);
        for (const rec of [...Object.values(shard.packages), ...Object.values(shard['packages.conda'])]) {
          for (const k of ['size', 'timestamp', 'build_number', 'indexed_timestamp']) expect(Number.isInteger(rec[k])).toBe(true);
        }
        expect((await get(`/conda/${view}/conda-forge/linux-64/shards/${hex}.msgpack.zst`, { 'if-none-match': `"${hex}"` })).status).toBe(
          304,
        );
      }
    }
    // The exception shows: team-a's safelib shard lists 2.0, default's does not.
    const a = (await fetchIndex('team-a')).shards.safelib!;
    const d = (await fetchIndex('default')).shards.safelib!;
    expect(a).not.toBe(d);
    const shardA = decodeZst(
      Buffer.from(await (await get(`/conda/team-a/conda-forge/linux-64/shards/${a}.msgpack.zst`)).arrayBuffer()),
    ) as Repodata;
    expect(Object.keys(shardA['packages.conda'])).toContain(pk.lib20!.filename);
  });

  it('checks the policy on every shard URL: 403 with the reason for a name the view may not install, 404 otherwise', async () => {
    // Another view's safelib shard (it lists 2.0) is not this view's current one.
    const teamA = (await fetchIndex('team-a')).shards.safelib!;
    const stale = await get(`/conda/default/conda-forge/linux-64/shards/${teamA}.msgpack.zst`);
    expect(stale.status).toBe(404);
    expect(((await stale.json()) as { detail: string }).detail).toContain('fetch repodata_shards.msgpack.zst again');
    // A name allowed for a while, then taken off the allowlist: its shard is refused with the reason.
    await sl.setCondaAllowlist(`${ALLOWLIST}\n    - blocked\n`);
    let blockedHex: string;
    try {
      blockedHex = (await fetchIndex('default')).shards.blocked!;
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

  it('names a shard by its records alone, whatever order the catalog holds them in', () => {
    const packages = [...openedConda(sl.runtime).catalog.subdir('conda-forge', 'linux-64')!.packages.values()];
    expect(packages.filter((p) => p.name === 'safelib').length).toBe(3);
    const forward = renderShards('linux-64', packages, { encode });
    const backward = renderShards('linux-64', [...packages].reverse(), { encode });
    expect([...backward.byName]).toEqual([...forward.byName]);
    expect(backward.index.equals(forward.index)).toBe(true);
  });

  it('is not offered by a CondaIndex without a msgpack encoder: 404, so clients use repodata.json', async () => {
    const rt = sl.runtime;
    const conda = new CondaIndex(openedConda(rt).catalog, rt.policies, condaConfig.of(sl.config).channels, { maxBytes: 10_000_000 });
    // Only conda's read path, served from that index.
    const routes: OpenEcosystem['routes'] = (a, d) => registerCondaRoutes(a, { index: conda, store: d.store, gzip: true });
    const app: FastifyInstance = await buildApp({
      db: rt.db,
      store: rt.store,
      policies: rt.policies,
      ecosystems: new Map([['conda', { ...openedConda(rt), readModel: conda, routes }]]),
      logLevel: 'silent',
    });
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${url}/conda/default/conda-forge/linux-64/repodata_shards.msgpack.zst`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { detail: string }).detail).toContain('use repodata.json');
      expect((await fetch(`${url}/conda/default/conda-forge/linux-64/repodata.json`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
