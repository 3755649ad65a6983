// The conda side of the CLI, run as a user runs it: import real packages into a channel,
// lint the conda allowlist with file and line, and `allowlist check` for allowed packages
// whose dependencies have no allowed candidate; `why` explains a refused version.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCondaPackage } from '../support/conda-channel.js';
import { cliArgv, ROOT } from '../support/cli.js';
import { seededPgliteYaml } from '../support/databases.js';

const run = promisify(execFile);

async function safelist(config: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, cliArgv('--config', config, ...args), { cwd: ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('safelist CLI for conda', () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-conda-cli-'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(
      join(dir, 'allowlists', 'conda.yaml'),
      ['channels:', '  conda-forge:', '    - app', '    - safelib >=1', '    - pinned 1.*', '    - pydep', ''].join('\n'),
    );
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'pglite'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        'sync: { schedule: "" }',
        '',
      ].join('\n'),
    );
    const pkgs = join(dir, 'pkgs');
    await buildCondaPackage(pkgs, {
      name: 'app',
      version: '1.0',
      depends: ['safelib >=1', 'missing-lib', 'pinned 2.*', 'pydep', '__glibc >=2.17'],
    });
    await buildCondaPackage(pkgs, { name: 'safelib', version: '1.2', format: 'tar.bz2' });
    await buildCondaPackage(pkgs, { name: 'pinned', version: '1.0' });
    await buildCondaPackage(pkgs, { name: 'pinned', version: '2.0' });
    await buildCondaPackage(pkgs, { name: 'pydep', version: '0.1', subdir: 'noarch', depends: ['safelib'] });
    await writeFile(join(pkgs, 'broken-1.0-0.conda'), 'not a zip');
  });

  it('imports packages into a channel and reports what it skipped', async () => {
    const r = await safelist(config, 'import', 'conda', join(dir, 'pkgs'));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ channel: 'conda-forge', imported: 5, skipped: 1 });
    expect(r.stderr).toMatch(/skipped .*broken-1\.0-0\.conda: not a \.conda \(zip\) file/);
  });

  it('reports allowed packages whose dependencies have no allowed candidate', async () => {
    const r = await safelist(config, 'allowlist', 'check');
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^view default: conda-forge\/linux-64: app-1\.0-\S+\.conda depends on "missing-lib": missing-lib is blocked by Safelist policy in view default: it is not on the allowlist/,
    );
    expect(lines[1]).toMatch(
      /depends on "pinned 2\.\*": no allowed and mirrored pinned matches "pinned 2\.\*" in conda-forge\/linux-64 or noarch/,
    );
    const json = JSON.parse((await safelist(config, 'allowlist', 'check', '--json')).stdout) as { conda: unknown[]; pypi: unknown[] };
    expect(json.conda).toHaveLength(2);
    expect(json.pypi).toEqual([]);
  });

  it('explains a refused version with why', async () => {
    const r = await safelist(config, 'why', 'pinned', '--ecosystem', 'conda');
    expect(r.stdout).toContain('pinned is allowed in view default for 1.*');
    expect(r.stdout).toMatch(/refused 2\.0 \S+ \(conda-forge\/linux-64\): pinned 2\.0 \S+ \(linux-64\) is blocked by Safelist policy/);
  });

  it('lints the conda allowlist with file and line', async () => {
    await writeFile(
      join(dir, 'allowlists', 'conda.yaml'),
      'channels:\n  conda-forge:\n    - app\n    - numpy >=>1\n  conda-froge:\n    - scipy\n',
    );
    const r = await safelist(config, 'allowlist', 'lint');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/conda\.yaml:4: ">=>1" is not a conda version spec/);
    expect(r.stdout).toMatch(
      /conda\.yaml:6: channel "conda-froge" is not configured \(conda\.channels: conda-forge\); this entry allows nothing/,
    );
  });
});
