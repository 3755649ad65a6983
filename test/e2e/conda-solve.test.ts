// End to end with a real conda solver: @conda-org/rattler's simpleSolve resolves environments
// against Safelist's channel URL, gets only allowed versions, fails for a disallowed one with
// a message naming the package, and every solved file downloaded from Safelist has the sha256
// that the repodata states. rattler asks for repodata_shards.msgpack.zst (CEP 16) and reads the
// shards; on a 404 it reads repodata.json.zst: a recording proxy shows which one it read.
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { simpleSolve } from '@conda-org/rattler';
import { decode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { condaConfig } from '../../src/ecosystems/conda/config.js';
import { CondaIndex } from '../../src/ecosystems/conda/index.js';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { buildApp } from '../../src/http/app.js';
import { buildCondaPackage } from '../support/conda-channel.js';
import { startRecordingProxy } from '../support/recording-proxy.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { registerCondaRoutes } from '../../src/ecosystems/conda/routes.js';
import type { OpenEcosystem } from '../../src/ecosystems/types.js';

describe('rattler solves against a curated Safelist channel', () => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      condaAllowlist: [
        'channels:',
        '  conda-forge:',
        '    - python 3.11.* *_cpython',
        '    - numpy >=1.26,<2',
        '    - tzdata',
        '    - mlapp',
      ].join('\n'),
      exceptions: {
        'e.yaml':
          'exceptions:\n  - { id: C-2, ecosystem: conda, package: "numpy 2.*", channel: conda-forge, view: team-a, reason: trial of numpy 2, expires: 2099-12-31 }\n',
      },
      // js-rattler 0.3.x (WASM) panics on gzip-encoded repodata; real conda/mamba/pixi get gzip.
      extra: {
        conda: { gzip: false, channels: [{ name: 'conda-forge', url: 'https://conda.anaconda.org/conda-forge', subdirs: ['linux-64'] }] },
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-solve-'));
    const specs = [
      { name: 'python', version: '3.11.9', build: 'h1_0_cpython' },
      { name: 'python', version: '3.12.4', build: 'h1_0_cpython' },
      { name: 'python', version: '3.11.9', build: 'h1_0_pypy' },
      { name: 'numpy', version: '1.26.4', build: 'py311h1_0', depends: ['python >=3.11,<3.12.0a0'] },
      { name: 'numpy', version: '2.0.0', build: 'py311h1_0', depends: ['python >=3.11,<3.12.0a0'] },
      { name: 'tzdata', version: '2024a', build: 'h0_0', subdir: 'noarch' },
      { name: 'mlapp', version: '0.1', build: 'h0_0', depends: ['numpy >=1.20', 'python 3.11.*', 'tzdata'], format: 'tar.bz2' as const },
      { name: 'requests-lite', version: '1.0', build: 'h0_0', subdir: 'noarch' },
    ];
    for (const s of specs) await buildCondaPackage(dir, s);
    const report = await importCondaDir(dir, { store: sl.runtime.store, catalog: openedConda(sl.runtime).catalog, channel: 'conda-forge' });
    expect(report.skipped).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  const channel = (view: string) => `${sl.url}/conda/${view}/conda-forge`;

  it('solves with only allowed versions and builds, and every solved file matches its sha256', async () => {
    const solved = await simpleSolve(['mlapp'], [channel('default')], ['linux-64', 'noarch'], []);
    const got = Object.fromEntries(solved.map((s) => [s.packageName, `${s.version} ${s.build}`]));
    expect(got).toEqual({ mlapp: '0.1 h0_0', numpy: '1.26.4 py311h1_0', python: '3.11.9 h1_0_cpython', tzdata: '2024a h0_0' });
    for (const s of solved) {
      expect(s.url.startsWith(`${channel('default')}/`)).toBe(true);
      const res = await fetch(s.url);
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256);
    }
    expect(sl.condaServed.map((e) => e.filename).sort()).toEqual(solved.map((s) => s.filename).sort());
  });

  it('fails to solve for a disallowed version or package, naming it', async () => {
    await expect(simpleSolve(['numpy >=2'], [channel('default')], ['linux-64', 'noarch'], [])).rejects.toThrow(/numpy >=2/);
    await expect(simpleSolve(['python 3.12.*'], [channel('default')], ['linux-64', 'noarch'], [])).rejects.toThrow(/python 3\.12\.\*/);
    await expect(simpleSolve(['requests-lite'], [channel('default')], ['linux-64', 'noarch'], [])).rejects.toThrow(/requests-lite/);
  });

  it('solves a view with an exception to the version it allows', async () => {
    const solved = await simpleSolve(['numpy >=2'], [channel('team-a')], ['linux-64', 'noarch'], []);
    expect(solved.find((s) => s.packageName === 'numpy')?.version).toBe('2.0.0');
  });

  it('reads CEP 16 sharded repodata (the index, then one shard per name it needs) and solves the same as from repodata.json', async () => {
    const proxy = await startRecordingProxy(sl.url);
    try {
      const solved = await simpleSolve(['mlapp'], [`${proxy.url}/conda/default/conda-forge`], ['linux-64', 'noarch'], []);
      const got = Object.fromEntries(solved.map((s) => [s.packageName, `${s.version} ${s.build}`]));
      expect(got).toEqual({ mlapp: '0.1 h0_0', numpy: '1.26.4 py311h1_0', python: '3.11.9 h1_0_cpython', tzdata: '2024a h0_0' });
      // Every solved record is the one repodata.json states: hashes, size and dependencies.
      for (const s of solved) {
        const r = (await (await fetch(`${channel('default')}/${s.subdir}/repodata.json`)).json()) as Record<
          string,
          Record<string, Record<string, unknown>>
        >;
        const rec = (r.packages![s.filename] ?? r['packages.conda']![s.filename])!;
        expect({ sha256: s.sha256, md5: s.md5, size: Number(s.size), depends: s.depends }).toEqual({
          sha256: rec.sha256,
          md5: rec.md5,
          size: rec.size,
          depends: rec.depends,
        });
        expect(s.url).toBe(`${proxy.url}/conda/default/conda-forge/${s.subdir}/${s.filename}`);
      }
      const base = '/conda/default/conda-forge';
      for (const subdir of ['linux-64', 'noarch']) {
        expect(proxy.requests).toContain(`GET ${base}/${subdir}/repodata_shards.msgpack.zst -> 200`);
        // No fallback to the monolithic repodata in any form.
        expect(proxy.requests.filter((r) => r.startsWith(`GET ${base}/${subdir}/repodata.json`))).toEqual([]);
      }
      // Each solved package's shard was fetched, under the hash the view's index names for it.
      const shardRequests = proxy.requests.filter((r) => r.includes('/shards/'));
      for (const s of solved) {
        const subdir = s.subdir!;
        const index = decode(
          zstdDecompressSync(Buffer.from(await (await fetch(`${sl.url}${base}/${subdir}/repodata_shards.msgpack.zst`)).arrayBuffer())),
        ) as {
          shards: Record<string, Uint8Array>;
        };
        const hex = Buffer.from(index.shards[s.packageName]!).toString('hex');
        expect(shardRequests).toContain(`GET ${base}/${subdir}/shards/${hex}.msgpack.zst -> 200`);
      }
      expect(shardRequests.every((r) => r.endsWith(' -> 200'))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('falls back to repodata.json.zst, the filtered repodata zstd-compressed, when a server offers no shards', async () => {
    // The same catalog and policy behind a CondaIndex without a msgpack encoder: the index is 404.
    const rt = sl.runtime;
    const conda = new CondaIndex(openedConda(rt).catalog, rt.policies, condaConfig.of(sl.config).channels, { maxBytes: 10_000_000 });
    // Only conda's read path, served from that index.
    const routes: OpenEcosystem['routes'] = (a, d) => registerCondaRoutes(a, { index: conda, store: d.store, gzip: false });
    const app = await buildApp({
      db: rt.db,
      store: rt.store,
      policies: rt.policies,
      ecosystems: new Map([['conda', { ...openedConda(rt), readModel: conda, routes }]]),
      logLevel: 'silent',
    });
    const proxy = await startRecordingProxy(await app.listen({ host: '127.0.0.1', port: 0 }));
    try {
      const solved = await simpleSolve(['mlapp'], [`${proxy.url}/conda/default/conda-forge`], ['linux-64', 'noarch'], []);
      expect(solved.find((s) => s.packageName === 'numpy')?.version).toBe('1.26.4');
      for (const subdir of ['linux-64', 'noarch']) {
        expect(proxy.requests).toContain(`GET /conda/default/conda-forge/${subdir}/repodata_shards.msgpack.zst -> 404`);
        expect(proxy.requests).toContain(`GET /conda/default/conda-forge/${subdir}/repodata.json.zst -> 200`);
        expect(proxy.requests).not.toContain(`GET /conda/default/conda-forge/${subdir}/repodata.json -> 200`);
      }
    } finally {
      await proxy.stop();
      await app.close();
    }
  });
});
