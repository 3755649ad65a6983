// `safelist sync` killed with SIGKILL in the middle of a wheel download (a wheel whose upstream
// offers no PEP 658 metadata, the path that used a temporary folder): nothing is left in the
// system temp folder, nothing partial is visible in storage, and the store's own temporary
// file (and earlier versions' safelist-sync-* folders) are removed at a later start. Real parts: nginx (rate-limited, so the download is still
// running when the kill comes) serving a PEP 503 tree, the CLI as a child process.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliArgv, ROOT } from '../support/cli.js';
import { startNginx, type NginxServer as Nginx } from '../support/nginx-upstream.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { seededPgliteYaml } from '../support/databases.js';

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}

describe('a sync killed mid-download', () => {
  let dir: string;
  let nginx: Nginx;
  let wheel: BuiltWheel;
  let config: string;
  let sysTmp: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-killed-'));
    sysTmp = join(dir, 'tmp');
    await mkdir(sysTmp);
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - slow-pkg\n');
    // ~3 MB that deflate cannot shrink much, served at 64 KB/s: the download lasts ~45 s.
    wheel = await buildWheel(join(dir, 'www', 'files'), {
      name: 'slow-pkg',
      version: '1.0',
      modules: { slow_pkg: `DATA = "${randomBytes(3 * 1024 * 1024).toString('base64')}"\n` },
    });
    await mkdir(join(dir, 'www', 'simple', 'slow-pkg'), { recursive: true });
    await writeFile(
      join(dir, 'www', 'simple', 'slow-pkg', 'index.html'),
      `<a href="../../files/${wheel.filename}#sha256=${wheel.sha256}">${wheel.filename}</a>\n`,
    );
    nginx = await startNginx({ root: join(dir, 'www'), types: { html: 'text/html' }, serverExtra: 'location /files/ { limit_rate 64k; }' });
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'pglite'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `pypi: { upstreams: [ { name: local, url: "${nginx.url}simple/" } ] }`,
        'sync: { schedule: "" }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await nginx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no temporary folder, shows nothing partial, and its partial file goes at a later start', async () => {
    const child = spawn(process.execPath, cliArgv('--config', config, 'sync'), {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: sysTmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    // Wait until the wheel's bytes are being written somewhere (the store's incoming folder,
    // or a temporary folder of the system), then kill the process where it stands.
    const writing = async () =>
      (await list(sysTmp)).some((n) => n.startsWith('safelist-sync-')) ||
      (await list(join(dir, 'blobs', '.incoming'))).some((n) => !n.startsWith('probe-'));
    for (let i = 0; i < 1200 && !(await writing()); i++) {
      expect(child.exitCode, stderr).toBeNull();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await writing(), `the download never started:\n${stderr}`).toBe(true);
    child.kill('SIGKILL');
    await exited;

    expect((await list(sysTmp)).filter((n) => n.startsWith('safelist-sync-'))).toEqual([]);
    const partial = await list(join(dir, 'blobs', '.incoming'));
    expect(partial).toHaveLength(1);
    expect(await list(join(dir, 'blobs', 'sha256', wheel.sha256.slice(0, 2)))).toEqual([]);

    // A later start (here: the next day's dry run) removes what the killed write left, and
    // what killed syncs of earlier versions left in the system temp folder; nothing fresh.
    const yesterday = new Date(Date.now() - 25 * 3600_000);
    await utimes(join(dir, 'blobs', '.incoming', partial[0]!), yesterday, yesterday);
    await mkdir(join(sysTmp, 'safelist-sync-AbC123'));
    await writeFile(join(sysTmp, 'safelist-sync-AbC123', wheel.filename), 'partial');
    await utimes(join(sysTmp, 'safelist-sync-AbC123'), yesterday, yesterday);
    await mkdir(join(sysTmp, 'safelist-sync-fresh1'));
    const next = await cli(['--config', config, 'sync', '--dry-run'], { TMPDIR: sysTmp });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain('removed 1 temporary folder(s)');
    expect(await list(join(dir, 'blobs', '.incoming'))).toEqual([]);
    expect((await list(sysTmp)).filter((n) => n.startsWith('safelist-sync-'))).toEqual(['safelist-sync-fresh1']);
  }, 180_000);
});
