// The sync job against real upstream index servers: nginx serving PEP 503 HTML pages the test
// writes (a static mirror, as many organisations run) and a second Safelist (PEP 691 JSON with PEP 658
// metadata). Checks planning, verification, idempotence and refusal of corrupted files.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { runPypiSync, type SyncEvent } from '../../src/ecosystems/pypi/sync.js';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { startNginxUpstream } from '../support/nginx-upstream.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildSdist, buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

type Built = Awaited<ReturnType<typeof buildWheel>>;

async function sync(sl: TestSafelist, opts: { dryRun?: boolean } = {}) {
  const events: SyncEvent[] = [];
  const report = await runPypiSync(
    { config: sl.config, policy: sl.runtime.policies.policy, catalog: openedPypi(sl.runtime).catalog, store: sl.runtime.store },
    { ...opts, onEvent: (e) => events.push(e) },
  );
  return { report, events };
}

describe('sync from a static PEP 503 HTML upstream (nginx)', () => {
  let upstream: Awaited<ReturnType<typeof startNginxUpstream>>;
  let sl: TestSafelist;
  let packages: string;
  const built: Record<string, Built> = {};

  beforeAll(async () => {
    packages = await mkdtemp(join(tmpdir(), 'safelist-upstream-'));
    for (const v of ['1.0', '1.1', '2.0']) built[v] = await buildWheel(packages, { name: 'demo-pkg', version: v, requiresPython: '>=3.8' });
    await buildSdist(packages, { name: 'demo-pkg', version: '1.1' });
    await buildWheel(packages, { name: 'unlisted', version: '1.0' });
    built.nohash = await buildWheel(packages, { name: 'nohash-pkg', version: '1.0' });
    // The index announces no Requires-Python (the wheel does) and no hash for nohash-pkg.
    upstream = await startNginxUpstream({ packagesDir: packages, links: (f) => ({ sha256: !f.startsWith('nohash') }) });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - "demo-pkg>=1.0,<2"\n  - missing-everywhere\n  - nohash-pkg\n',
      upstreams: [{ name: 'html', url: upstream.url }],
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
  });

  it('plans without storing anything on --dry-run', async () => {
    const { report } = await sync(sl, { dryRun: true });
    const item = report.plan.find((p) => p.project === 'demo-pkg')!;
    expect(item.fetch.map((f) => f.filename).sort()).toEqual(
      [built['1.0']!.filename, built['1.1']!.filename, 'demo_pkg-1.1.tar.gz'].sort(),
    );
    expect(item.recordOnly).toBe(1);
    expect(report.missing).toEqual(['missing-everywhere']);
    expect(openedPypi(sl.runtime).catalog.project('demo-pkg')).toBeUndefined();
  });

  it('downloads the allowed versions, verified, with metadata taken from the wheel, and records the rest', async () => {
    const { report, events } = await sync(sl);
    // A file the index gives no sha256 for cannot be verified: skipped, saying why.
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'warning', message: expect.stringContaining(`${built.nohash!.filename} has no sha256`) }),
    );
    expect(openedPypi(sl.runtime).catalog.file(built.nohash!.sha256)?.stored).not.toBe(true);
    expect(report.failed).toEqual([]);
    expect(report.downloaded).toBe(3);
    const project = openedPypi(sl.runtime).catalog.project('demo-pkg')!;
    const f11 = project.files.find((f) => f.filename === built['1.1']!.filename)!;
    expect(f11).toMatchObject({ stored: true, sha256: built['1.1']!.sha256, source: 'html', requiresPython: '>=3.8' });
    const f20 = project.files.find((f) => f.filename === built['2.0']!.filename)!;
    expect(f20.stored).toBe(false);
    // .metadata is byte-identical to the METADATA in the wheel.
    const meta = await fetch(`${sl.url}/pypi/default/files/${f11.sha256}/${f11.filename}.metadata`);
    expect(Buffer.from(await meta.arrayBuffer()).equals(built['1.1']!.metadata)).toBe(true);
    // The wheel itself, byte for byte.
    const file = await fetch(`${sl.url}/pypi/default/files/${f11.sha256}/${f11.filename}`);
    expect(Buffer.from(await file.arrayBuffer()).equals(await readFile(built['1.1']!.path))).toBe(true);
    // The blocked version is listed (yanked with the reason) but its bytes were never fetched.
    expect(await sl.runtime.store.stat(blobKeyForSha256(built['2.0']!.sha256))).toBeUndefined();
  });

  it('is idempotent: a second run downloads nothing', async () => {
    const { report } = await sync(sl);
    expect(report.downloaded).toBe(0);
    expect(report.failed).toEqual([]);
    expect(report.plan.find((p) => p.project === 'demo-pkg')!.present).toBe(3);
  });

  it('fetches a version as soon as the allowlist admits it', async () => {
    await sl.setAllowlist('packages:\n  - "demo-pkg>=1.0"\n');
    const { report } = await sync(sl);
    expect(report.downloaded).toBe(1);
    expect(openedPypi(sl.runtime).catalog.file(built['2.0']!.sha256)!.stored).toBe(true);
  });

  it('refuses an upstream that replaced the bytes behind a known file name', async () => {
    const tampered = await buildWheel(join(packages, 'x'), { name: 'demo-pkg', version: '1.0', modules: { demo_pkg: 'EVIL = True\n' } });
    await writeFile(built['1.0']!.path, await readFile(tampered.path));
    await upstream.refresh(); // the upstream republishes its pages with the new bytes' hash
    const { report } = await sync(sl);
    expect(report.failed.map((f) => f.filename)).toContain(built['1.0']!.filename);
    expect(report.failed.find((f) => f.filename === built['1.0']!.filename)!.error).toMatch(/immutable/);
    expect(openedPypi(sl.runtime).catalog.file(built['1.0']!.sha256)!.stored).toBe(true);
  });
});

describe('sync from another Safelist (PEP 691 JSON with PEP 658 metadata)', () => {
  let upstream: TestSafelist;
  let sl: TestSafelist;
  const built: Record<string, Built> = {};

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-upstream2-'));
    for (const v of ['1.0', '1.1']) built[v] = await buildWheel(dir, { name: 'json-pkg', version: v });
    built.c = await buildWheel(dir, { name: 'corrupt-pkg', version: '1.0' });
    upstream = await startTestSafelist({ allowlist: 'packages:\n  - json-pkg\n  - corrupt-pkg\n' });
    await importPypiDir(dir, { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
    // Corrupt the stored bytes of one upstream file: the index still announces the right sha256.
    const blobs = join(upstream.dir, 'blobs', ...blobKeyForSha256(built.c!.sha256).split('/'));
    await writeFile(blobs, Buffer.from('not the wheel you are looking for'));
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - json-pkg\n  - corrupt-pkg\n',
      upstreams: [{ name: 'central', url: `${upstream.url}/pypi/default/simple/` }],
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
  });

  it('uses JSON, keeps the upstream upload time, fetches and verifies upstream .metadata, and rejects a corrupted file', async () => {
    const { report } = await sync(sl);
    expect(report.downloaded).toBe(2);
    const failed = report.failed.find((f) => f.filename === built.c!.filename);
    expect(failed?.error).toMatch(/sha256|bytes/);
    expect(openedPypi(sl.runtime).catalog.file(built.c!.sha256)?.stored ?? false).toBe(false);
    expect(await sl.runtime.store.stat(blobKeyForSha256(built.c!.sha256))).toBeUndefined();
    const up = openedPypi(upstream.runtime).catalog.file(built['1.1']!.sha256)!;
    const down = openedPypi(sl.runtime).catalog.file(built['1.1']!.sha256)!;
    expect(down.uploadTime?.toISOString()).toBe(up.uploadTime?.toISOString());
    expect(down.metadataSha256).toBe(up.metadataSha256);
    // The metadata came from the upstream's .metadata URL.
    expect(upstream.served.some((s) => s.metadata && s.sha256 === built['1.1']!.sha256)).toBe(true);
    const meta = await fetch(`${sl.url}/pypi/default/files/${down.sha256}/${down.filename}.metadata`);
    expect(Buffer.from(await meta.arrayBuffer()).equals(built['1.1']!.metadata)).toBe(true);
  });
});
