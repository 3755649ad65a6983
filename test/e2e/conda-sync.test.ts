// The conda sync against a real HTTP upstream channel (a local server over a folder built with
// cph): streams and filters the upstream repodata, downloads and verifies only what some view
// allows, is idempotent, refuses corrupted files, and keeps serving the last good channel
// when the upstream repodata turns malformed (truncated, wrong types). Stored files are announced
// to the replicas in batches, not one by one.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleSolve } from '@conda-org/rattler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { CATALOG_CHANNEL, parseCatalogChange } from '../../src/catalog/changes.js';
import { runCondaSync, type CondaSyncEvent } from '../../src/ecosystems/conda/sync.js';
import { buildCondaPackage, serveChannel, writeChannel, type BuiltCondaPackage, type ChannelServer } from '../support/conda-channel.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';

describe('conda sync from an HTTP upstream channel', () => {
  let upstream: ChannelServer;
  let sl: TestSafelist;
  let channelDir: string;
  const pk: Record<string, BuiltCondaPackage> = {};

  const sync = async () => {
    const events: CondaSyncEvent[] = [];
    const report = await runCondaSync(
      {
        config: sl.config,
        policy: sl.runtime.policies.policy,
        catalog: openedConda(sl.runtime).catalog,
        store: sl.runtime.store,
        db: sl.runtime.db,
      },
      { onEvent: (e) => events.push(e) },
    );
    return { report, events };
  };

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'safelist-conda-upstream-'));
    const build = join(root, 'build');
    pk.lib10 = await buildCondaPackage(build, { name: 'safelib', version: '1.0' });
    pk.lib20 = await buildCondaPackage(build, { name: 'safelib', version: '2.0' });
    pk.util = await buildCondaPackage(build, { name: 'utilpkg', version: '0.3', subdir: 'noarch', format: 'tar.bz2' });
    pk.app = await buildCondaPackage(build, { name: 'app', version: '1.0', depends: ['safelib', 'utilpkg'] });
    pk.other = await buildCondaPackage(build, { name: 'unlisted', version: '1.0' });
    channelDir = join(root, 'conda-forge');
    await writeChannel(channelDir, Object.values(pk));
    upstream = await serveChannel(root);
    sl = await startTestSafelist({
      condaAllowlist: 'channels:\n  conda-forge:\n    - safelib <2\n    - utilpkg\n    - app\n',
      condaChannels: [
        { name: 'conda-forge', url: `${upstream.url}/conda-forge`, alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
      extra: { conda: { gzip: false, channels: [{ name: 'conda-forge', url: `${upstream.url}/conda-forge`, subdirs: ['linux-64'] }] } },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
  });

  const served = async (subdir: string) => {
    const r = (await (await fetch(`${sl.url}/conda/default/conda-forge/${subdir}/repodata.json`)).json()) as {
      packages: object;
      'packages.conda': object;
    };
    return [...Object.keys(r.packages), ...Object.keys(r['packages.conda'])].sort();
  };

  it('downloads and verifies only what some view allows, and serves it', async () => {
    const announced: string[] = [];
    const unlisten = await sl.runtime.db.listen(CATALOG_CHANNEL, (payload) => {
      const change = parseCatalogChange(payload);
      if (change?.ecosystem === 'conda') announced.push(change.name);
    });
    const { report } = await sync();
    // Notifications arrive asynchronously; one sent last on the same database comes after them.
    await sl.runtime.db.notify(CATALOG_CHANNEL, JSON.stringify({ ecosystem: 'conda', name: 'end-of-sync' }));
    await until(() => announced.includes('end-of-sync') || undefined, 'the marker notification');
    await unlisten();
    expect(report.failed).toEqual([]);
    expect(report.downloaded).toBe(3);
    // Each subdir is announced to the replicas once for its records and once for its stored
    // files, not once per downloaded file (each announcement reloads the whole subdir everywhere).
    expect(announced.filter((n) => n === 'conda-forge/linux-64')).toHaveLength(2);
    expect(report.subdirs.map((s) => [s.subdir, s.seen, s.kept, s.toFetch])).toEqual([
      ['noarch', 1, 1, 1],
      ['linux-64', 4, 3, 2],
    ]);
    expect(await served('linux-64')).toEqual([pk.app!.filename, pk.lib10!.filename].sort());
    expect(await served('noarch')).toEqual([pk.util!.filename]);
    expect(await sl.runtime.store.stat(blobKeyForSha256(pk.lib20!.record.sha256))).toBeUndefined();
    expect(await sl.runtime.store.stat(blobKeyForSha256(pk.other!.record.sha256))).toBeUndefined();
    // The refused version is known (for explanations), never offered.
    expect(openedConda(sl.runtime).catalog.subdir('conda-forge', 'linux-64')?.packages.get(pk.lib20!.filename)?.stored).toBe(false);
    const solved = await simpleSolve(['app'], [`${sl.url}/conda/default/conda-forge`], ['linux-64', 'noarch'], []);
    expect(solved.map((s) => `${s.packageName} ${s.version}`).sort()).toEqual(['app 1.0', 'safelib 1.0', 'utilpkg 0.3']);
  });

  const indexedTimestamps = async (subdir: string) => {
    const r = (await (await fetch(`${sl.url}/conda/default/conda-forge/${subdir}/repodata.json`)).json()) as Record<
      'packages' | 'packages.conda',
      Record<string, { indexed_timestamp?: number }>
    >;
    return Object.fromEntries(
      [...Object.entries(r.packages), ...Object.entries(r['packages.conda'])].map(([fn, rec]) => [fn, rec.indexed_timestamp]),
    );
  };

  it('is idempotent: a second run downloads nothing, and keeps every CEP 47 indexed_timestamp', async () => {
    const before = { ...(await indexedTimestamps('linux-64')), ...(await indexedTimestamps('noarch')) };
    expect(Object.values(before).every((t) => Number.isInteger(t))).toBe(true);
    const { report } = await sync();
    expect(report.failed).toEqual([]);
    expect(report.downloaded).toBe(0);
    expect(report.subdirs.find((s) => s.subdir === 'linux-64')?.present).toBe(2);
    expect({ ...(await indexedTimestamps('linux-64')), ...(await indexedTimestamps('noarch')) }).toEqual(before);
  });

  it('fetches a version once an exception or allowlist change allows it', async () => {
    await sl.setCondaAllowlist('channels:\n  conda-forge:\n    - safelib\n    - utilpkg\n    - app\n');
    try {
      const before = Date.now();
      const { report } = await sync();
      expect(report.downloaded).toBe(1);
      expect(await served('linux-64')).toContain(pk.lib20!.filename);
      // Known upstream since the first sync, but mirrored only now: indexed when first stored.
      const stamps = await indexedTimestamps('linux-64');
      expect(stamps[pk.lib20!.filename]).toBeGreaterThanOrEqual(before - 1000);
      expect(stamps[pk.lib20!.filename]).toBeGreaterThan(stamps[pk.lib10!.filename]!);
    } finally {
      await sl.setCondaAllowlist('channels:\n  conda-forge:\n    - safelib <2\n    - utilpkg\n    - app\n');
    }
  });

  it('keeps serving the last good channel when the upstream repodata is truncated or has wrong types', async () => {
    const path = join(channelDir, 'linux-64', 'repodata.json');
    const good = await readFile(path, 'utf8');
    const before = await fetch(`${sl.url}/conda/default/conda-forge/linux-64/repodata.json`);
    const etag = before.headers.get('etag');
    const body = await before.text();
    const bad: Array<[string, RegExp]> = [
      [good.slice(0, Math.floor(good.length / 2)), /conda-forge\/linux-64\/repodata\.json: the repodata is truncated/],
      [good.replace('"version": "1.0"', '"version": 1.0'), /"version" must be a non-empty string/],
      [good.replace('"packages": {', '"packages": ['), /"packages" must be an object/],
    ];
    try {
      for (const [text, re] of bad) {
        await writeFile(path, text);
        const { report } = await sync();
        expect(report.failed.map((f) => f.error).join('\n')).toMatch(re);
        const after = await fetch(`${sl.url}/conda/default/conda-forge/linux-64/repodata.json`);
        expect(after.headers.get('etag')).toBe(etag);
        expect(await after.text()).toBe(body);
      }
      const rows = await sl.runtime.db.query<{ last_error: string }>(
        "SELECT last_error FROM conda_subdirs WHERE channel = 'conda-forge' AND subdir = 'linux-64'",
      );
      expect(rows[0]?.last_error).toMatch(/must be an object/);
    } finally {
      await writeFile(path, good);
    }
  });

  it('stops serving a record the upstream withdraws (its "removed" list)', async () => {
    const path = join(channelDir, 'linux-64', 'repodata.json');
    const good = await readFile(path, 'utf8');
    const doc = JSON.parse(good) as { 'packages.conda': Record<string, unknown>; removed: string[] };
    delete doc['packages.conda'][pk.lib10!.filename];
    doc.removed.push(pk.lib10!.filename);
    try {
      await writeFile(path, JSON.stringify(doc));
      const { report } = await sync();
      expect(report.subdirs.find((s) => s.subdir === 'linux-64')?.withdrawn).toBe(1);
      expect(await served('linux-64')).not.toContain(pk.lib10!.filename);
      expect((await fetch(`${sl.url}/conda/default/conda-forge/linux-64/${pk.lib10!.filename}`)).status).toBe(404);
    } finally {
      await writeFile(path, good);
      await sync();
    }
    expect(await served('linux-64')).toContain(pk.lib10!.filename);
  });

  it('refuses a file whose bytes do not match the upstream sha256', async () => {
    const fresh = await buildCondaPackage(join(channelDir, '..', 'build2'), { name: 'safelib', version: '1.1' });
    const all = [...Object.values(pk), { ...fresh, record: { ...fresh.record, sha256: 'f'.repeat(64) } }];
    await writeChannel(channelDir, all);
    const { report } = await sync();
    expect(report.failed).toEqual([
      { filename: fresh.filename, error: expect.stringMatching(/sha256 is .* expected f{64}; refusing to store it/) },
    ]);
    expect(await served('linux-64')).not.toContain(fresh.filename);
  });
});
