// Runs pypiserver (a real third-party PEP 503 index) from its public source, locally, as the
// upstream for sync tests and the peer in benchmarks. Its code is never committed: the source
// comes from a git mirror (PYPISERVER_GIT_DIR, default the tool library's mirror) and is
// extracted to a cache under the OS temp folder. Dependencies come from Debian
// (python3-defusedxml, python3-packaging; bottle is vendored by pypiserver itself).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from './ports.js';

const GIT_DIR = process.env.PYPISERVER_GIT_DIR ?? '/work/.mirror/pypiserver+pypiserver/repo';

export interface Pypiserver {
  /** The simple index, ending in /simple/. */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Extracts pypiserver's source once per commit; returns the folder to put on PYTHONPATH. */
export function pypiserverSource(): string {
  if (!existsSync(GIT_DIR)) {
    throw new Error(`pypiserver source not found at ${GIT_DIR}: fetch github:pypiserver/pypiserver or set PYPISERVER_GIT_DIR to a bare clone`);
  }
  const head = spawnSync('git', ['--git-dir', GIT_DIR, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) throw new Error(`cannot read pypiserver mirror: ${head.stderr}`);
  const dir = join(tmpdir(), `safelist-pypiserver-${head.stdout.trim().slice(0, 12)}`);
  if (existsSync(join(dir, 'pypiserver', '__main__.py'))) return dir;
  const partial = `${dir}.${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const out = spawnSync('sh', ['-c', `git --git-dir "${GIT_DIR}" archive HEAD pypiserver | tar -x -C "${partial}"`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`extracting pypiserver failed: ${out.stderr}`);
  try {
    renameSync(partial, dir);
  } catch {
    rmSync(partial, { recursive: true, force: true }); // another worker won the race
  }
  return dir;
}

/**
 * backend: 'simple-dir' (default) reads the folder on every request, so a test that changes a
 * file sees the change at once; 'cached-dir' (needs python3-watchdog) caches listings and
 * digests and is pypiserver at its fastest, for benchmarks.
 */
export async function startPypiserver(opts: { packagesDir: string; port?: number; backend?: 'simple-dir' | 'cached-dir' }): Promise<Pypiserver> {
  const src = pypiserverSource();
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(
    '/usr/bin/python3',
    ['-m', 'pypiserver', 'run', '-i', '127.0.0.1', '-p', String(port), '--disable-fallback', '-a', '.', '-P', '.',
      '--hash-algo', 'sha256', '--backend', opts.backend ?? 'simple-dir', '--welcome', join(src, 'pypiserver', 'welcome.html'), opts.packagesDir],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONPATH: src, PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}/simple/`;
  try {
    await waitForHttp(url, 20_000, () => child.exitCode === null);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`pypiserver did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    url,
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
