// Static publish mode: the server renders each view's simple tree into a target store after
// policy changes; a plain static file server (Python's http.server, standing in for an Azure
// Blob static website) serves it, and real pip installs from it; what a view no longer allows
// disappears from the tree on the next publish. A project the view refuses gets the PEP 792
// page the server renders; rattler solves from the published CEP 16 shards served by nginx.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { pipInstall } from '../support/pip.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { buildCondaPackage, type BuiltCondaPackage } from '../support/conda-channel.js';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { createHash } from 'node:crypto';
import { until } from '../support/wait.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { simpleSolve } from '@conda-org/rattler';
import { zstdDecompressSync } from 'node:zlib';
import { startNginx } from '../support/nginx-upstream.js';
import { startRecordingProxy } from '../support/recording-proxy.js';

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('static publish mode', () => {
  let sl: TestSafelist;
  let site: string;
  let web: ChildProcess;
  let webUrl: string;
  let work: string;
  const w: Record<string, BuiltWheel> = {};
  const conda: Record<string, BuiltCondaPackage> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-publish-'));
    site = join(work, 'site');
    w.v1 = await buildWheel(join(work, 'dist'), { name: 'pub-pkg', version: '1.0' });
    w.v2 = await buildWheel(join(work, 'dist'), { name: 'pub-pkg', version: '2.0' });
    w.other = await buildWheel(join(work, 'dist'), { name: 'other-pkg', version: '1.0' });
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - pub-pkg\n',
      condaAllowlist: 'channels:\n  conda-forge:\n    - publib >=1,<2\n',
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
      extra: { publish: { target: { kind: 'fs', path: site }, debounce: '100ms' } },
    });
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    for (const v of ['1.0', '2.0']) conda[v] = await buildCondaPackage(join(work, 'conda'), { name: 'publib', version: v });
    await importCondaDir(join(work, 'conda'), {
      store: sl.runtime.store,
      catalog: openedConda(sl.runtime).catalog,
      channel: 'conda-forge',
    });
    const port = await freePort();
    web = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', site], { stdio: 'ignore' });
    webUrl = `http://127.0.0.1:${port}`;
    await until(() => exists(join(site, 'pypi/team-a/simple/pub-pkg/index.html')), 'the first publish');
    await waitForHttp(`${webUrl}/pypi/team-a/simple/`, 20_000, () => web.exitCode === null);
  });
  afterAll(async () => {
    web?.kill();
    await sl?.stop();
  });

  it('serves a static tree that real pip installs from, and drops what policy no longer allows', async () => {
    const target = await mkdtemp(join(work, 't-'));
    const r = await pipInstall({ indexUrl: `${webUrl}/pypi/team-a/simple/`, requirements: ['pub-pkg==2.0'], target });
    expect(r.code, r.output).toBe(0);
    const v2file = join(site, 'pypi/team-a/files', w.v2!.sha256, w.v2!.filename);
    expect(await exists(v2file)).toBe(true);
    expect(await exists(`${v2file}.metadata`)).toBe(true);

    await sl.setAllowlist('packages:\n  - "pub-pkg<2"\n');
    await until(async () => !(await exists(v2file)), 'the blocked file to leave the site');
    const blocked = await pipInstall({
      indexUrl: `${webUrl}/pypi/team-a/simple/`,
      requirements: ['pub-pkg==2.0'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(blocked.code).not.toBe(0);
    const ok = await pipInstall({
      indexUrl: `${webUrl}/pypi/team-a/simple/`,
      requirements: ['pub-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/pub[-_]pkg-1\.0/);
  });

  it("publishes each view's conda channel as a standard channel layout with only allowed packages", async () => {
    const base = `${webUrl}/conda/team-a/conda-forge`;
    await until(async () => (await fetch(`${base}/linux-64/repodata.json`)).ok, 'the conda channel to be published');
    const repodata = (await (await fetch(`${base}/linux-64/repodata.json`)).json()) as {
      'packages.conda': Record<string, { version: string; sha256: string }>;
    };
    const entries = Object.entries(repodata['packages.conda']);
    expect(entries.map(([, r]) => r.version)).toEqual(['1.0']);
    const [filename, record] = entries[0]!;
    const file = Buffer.from(await (await fetch(`${base}/linux-64/${filename}`)).arrayBuffer());
    expect(createHash('sha256').update(file).digest('hex')).toBe(record.sha256);
    expect((await fetch(`${base}/linux-64/${conda['2.0']!.filename}`)).status).toBe(404);
    expect((await fetch(`${base}/noarch/repodata.json`)).status).toBe(200);
    expect((await fetch(`${base}/channeldata.json`)).status).toBe(200);
  });

  it('publishes the PEP 792 page the server renders for a project the view refuses, and none of its files', async () => {
    const path = join(site, 'pypi/team-a/simple/other-pkg/index.html');
    const served = async () => (await fetch(`${sl.url}/pypi/team-a/simple/other-pkg/`, { headers: { accept: 'text/html' } })).text();
    await until(
      async () => (await exists(path)) && (await readFile(path, 'utf8')) === (await served()),
      'the refused page to be published',
    );
    const page = await readFile(path, 'utf8');
    expect(page).toContain('<meta name="pypi:project-status" content="quarantined">');
    expect(page).toMatch(/<meta name="pypi:project-status-reason" content="[^"]*other-pkg[^"]*safelist why other-pkg --view team-a/);
    expect(page).not.toContain(w.other!.filename);
    expect(await exists(join(site, 'pypi/team-a/files', w.other!.sha256))).toBe(false);
  });

  it('publishes repodata.json.zst and CEP 16 shards as served, and rattler solves from them on nginx', async () => {
    const sub = 'conda/team-a/conda-forge/linux-64';
    const servedIndex = async () => Buffer.from(await (await fetch(`${sl.url}/${sub}/repodata_shards.msgpack.zst`)).arrayBuffer());
    const publishedIndex = join(site, sub, 'repodata_shards.msgpack.zst');
    await until(
      async () => (await exists(publishedIndex)) && (await readFile(publishedIndex)).equals(await servedIndex()),
      'the shard index to be published as served',
    );
    const zst = zstdDecompressSync(await readFile(join(site, sub, 'repodata.json.zst')));
    expect(zst.toString('utf8')).toBe(
      await (await fetch(`${sl.url}/${sub}/repodata.json`, { headers: { 'accept-encoding': 'identity' } })).text(),
    );

    const nginx = await startNginx({ root: site });
    const proxy = await startRecordingProxy(nginx.url.replace(/\/$/, ''));
    try {
      const channel = `${proxy.url}/conda/team-a/conda-forge`;
      const solved = await simpleSolve(['publib'], [channel], ['linux-64', 'noarch'], []);
      expect(solved.map((s) => `${s.packageName} ${s.version}`)).toEqual(['publib 1.0']);
      const bytes = Buffer.from(await (await fetch(solved[0]!.url)).arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(solved[0]!.sha256);
      await expect(simpleSolve(['publib >=2'], [channel], ['linux-64', 'noarch'], [])).rejects.toThrow(/publib >=2/);
      expect(proxy.requests).toContain(`GET /${sub}/repodata_shards.msgpack.zst -> 200`);
      expect(
        proxy.requests.some((r) => /^GET \/conda\/team-a\/conda-forge\/linux-64\/shards\/[0-9a-f]{64}\.msgpack\.zst -> 200$/.test(r)),
      ).toBe(true);
      expect(proxy.requests.filter((r) => r.includes('/repodata.json'))).toEqual([]);
    } finally {
      await proxy.stop();
      await nginx.stop();
    }
  });
});
