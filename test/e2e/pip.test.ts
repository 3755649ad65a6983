// Real pip against a running Safelist. pip is isolated from this machine's own pip
// configuration (test/support/pip.ts), and every install is checked against what Safelist
// recorded as served, so a pass cannot come from some other wheel source.
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, debianWheels } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('pip against Safelist', () => {
  let sl: TestSafelist;
  let work: string;
  const built: Record<string, { filename: string; sha256: string }> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-pip-'));
    const dist = join(work, 'dist');
    for (const v of ['1.0', '1.1', '2.0']) {
      built[v] = await buildWheel(dist, { name: 'demo-pkg', version: v, modules: { demo_pkg: `VERSION = "${v}"\n` } });
    }
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - "demo-pkg>=1.0,<2"\n  - wheel\n',
    });
    const debian = debianWheels();
    expect(debian.map((w) => w.name)).toContain('wheel');
    await importPypiDir(dist, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    for (const w of debian) {
      const d = join(work, `debian-${w.name}`);
      await import('node:fs/promises').then((fs) => fs.mkdir(d).then(() => fs.copyFile(w.path, join(d, w.path.split('/').pop()!))));
      await importPypiDir(d, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    }
  });

  afterAll(async () => {
    await sl?.stop();
  });

  const index = (view = 'default') => `${sl.url}/pypi/${view}/simple/`;
  const target = async () => mkdtemp(join(work, 'target-'));
  const installedVersion = async (dir: string, dist: string) => {
    const info = (await readdir(dir)).find((f) => f.startsWith(`${dist}-`) && f.endsWith('.dist-info'));
    return info?.slice(dist.length + 1, -'.dist-info'.length);
  };

  it('installs an allowed third-party wheel (Debian python3-wheel-whl) from Safelist, using its .metadata', async () => {
    const wheel = debianWheels().find((w) => w.name === 'wheel')!;
    const dir = await target();
    sl.served.length = 0;
    const r = await pipInstall({ indexUrl: index(), requirements: ['wheel'], target: dir });
    expect(r.code, r.output).toBe(0);
    expect(await installedVersion(dir, 'wheel')).toBe(wheel.version);
    // The file pip installed is the one Safelist served, and pip read the PEP 658 metadata first.
    const files = sl.served.filter((s) => s.filename === wheel.path.split('/').pop());
    expect(files.some((s) => !s.metadata)).toBe(true);
    expect(files.some((s) => s.metadata)).toBe(true);
  });

  it('installs the newest allowed version when unpinned, skipping the blocked one', async () => {
    const dir = await target();
    const r = await pipInstall({ indexUrl: index(), requirements: ['demo-pkg'], target: dir });
    expect(r.code, r.output).toBe(0);
    expect(await installedVersion(dir, 'demo_pkg')).toBe('1.1');
    expect(sl.served.some((s) => s.sha256 === built['1.1']!.sha256 && !s.metadata)).toBe(true);
  });

  it("fails a pinned disallowed version with the policy reason in pip's default output", async () => {
    const dir = await target();
    const r = await pipInstall({ indexUrl: index(), requirements: ['demo-pkg==2.0'], target: dir });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(
      /403 Client Error: Blocked by Safelist policy - demo-pkg 2\.0 is blocked by Safelist policy in view default: allowed versions are >=1\.0,<2/,
    );
    expect(r.output).toContain('safelist why demo-pkg --view default');
    expect(sl.served.some((s) => s.sha256 === built['2.0']!.sha256)).toBe(false);
  });

  it('fails a project that is not allowed at all', async () => {
    const r = await pipInstall({ indexUrl: index(), requirements: ['numpy'], target: await target() });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/No matching distribution found for numpy/);
  });

  it('works with --require-hashes', async () => {
    const req = join(work, 'requirements.txt');
    await writeFile(req, `demo-pkg==1.0 --hash=sha256:${built['1.0']!.sha256}\n`);
    const dir = await target();
    const r = await pipInstall({ indexUrl: index(), requirements: ['-r', req], target: dir, extraArgs: ['--require-hashes'] });
    expect(r.code, r.output).toBe(0);
    expect(await installedVersion(dir, 'demo_pkg')).toBe('1.0');
    await writeFile(req, `demo-pkg==1.0 --hash=sha256:${'0'.repeat(64)}\n`);
    const bad = await pipInstall({ indexUrl: index(), requirements: ['-r', req], target: await target(), extraArgs: ['--require-hashes'] });
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/THESE PACKAGES DO NOT MATCH THE HASHES/);
  });

  it('sees an allowlist change on the next run, and a view with an exception gets what others cannot', async () => {
    await sl.setExceptions(
      'team.yaml',
      'exceptions:\n  - { id: EXC-1, ecosystem: pypi, package: "demo-pkg==2.0", view: team-a, reason: needs 2.0, expires: 2099-01-01 }\n',
    );
    const inTeam = await target();
    expect((await pipInstall({ indexUrl: index('team-a'), requirements: ['demo-pkg==2.0'], target: inTeam })).code).toBe(0);
    expect(await installedVersion(inTeam, 'demo_pkg')).toBe('2.0');
    expect((await pipInstall({ indexUrl: index(), requirements: ['demo-pkg==2.0'], target: await target() })).code).not.toBe(0);

    await sl.setAllowlist('packages:\n  - "demo-pkg>=1.0"\n  - wheel\n');
    const dir = await target();
    const r = await pipInstall({ indexUrl: index(), requirements: ['demo-pkg'], target: dir });
    expect(r.code, r.output).toBe(0);
    expect(await installedVersion(dir, 'demo_pkg')).toBe('2.0');
  });
});
