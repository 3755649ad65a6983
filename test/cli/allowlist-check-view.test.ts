// `safelist allowlist check` as CI runs it: a mistyped view is a usage error (exit 2) naming the
// configured views, and a check over an empty catalog says it checked nothing and does not pass.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { buildWheel } from '../support/wheels.js';
import { seededPgliteYaml } from '../support/databases.js';

describe('safelist allowlist check', () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-check-'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - app\n');
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        'views: { team-a: {} }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with exit 2 naming the configured views when a view does not exist', async () => {
    const r = await cli(['--config', config, 'allowlist', 'check', '--view', 'team-b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no view "team-b"; configured views: default, team-a');
    expect(r.stdout).toBe('');
  });

  it('says the check is vacuous and does not pass before anything is mirrored', async () => {
    const r = await cli(['--config', config, 'allowlist', 'check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'warning: pypi: the catalog has no records (nothing synced or imported yet): nothing was checked there, so the check is vacuous',
    );
    expect(r.stderr).toContain('allowlist check: nothing was checked; this is not a pass');
  });

  it('passes once there is something to check, warning only about views that offer nothing', async () => {
    const dist = join(dir, 'dist');
    await buildWheel(dist, { name: 'app', version: '1.0' });
    const imported = await cli(['--config', config, 'import', 'pypi', dist]);
    expect(imported.code, imported.stderr).toBe(0);
    const r = await cli(['--config', config, 'allowlist', 'check']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
  });
});
