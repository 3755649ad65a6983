// Runs pypiserver (a real third-party PEP 503 index) from its public source, locally, as an
// optional peer in benchmarks; tests never use it (they serve pages with nginx). Its code is
// never committed nor fetched here: PYPISERVER_SRC names a checkout (the folder holding the
// pypiserver package) or PYPISERVER_GIT_DIR a git clone, extracted to a cache under the OS temp
// folder. Without either, pypiserverSource() says so and the benchmark skips the peer.
// Dependencies come from Debian (python3-defusedxml, python3-packaging; bottle is vendored).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '../test/support/ports.js';

const SRC = process.env.PYPISERVER_SRC;
const GIT_DIR = process.env.PYPISERVER_GIT_DIR;

export interface Pypiserver {
  /** The simple index, ending in /simple/. */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The folder to put on PYTHONPATH (extracted once per commit from PYPISERVER_GIT_DIR), or a
 * reason it is not available.
 */
export function pypiserverSource(): { dir: string } | { missing: string } {
  if (SRC) {
    return existsSync(join(SRC, 'pypiserver', '__main__.py'))
      ? { dir: SRC }
      : { missing: `PYPISERVER_SRC=${SRC} holds no pypiserver/__main__.py` };
  }
  if (!GIT_DIR)
    return {
      missing: 'set PYPISERVER_SRC to a pypiserver checkout or PYPISERVER_GIT_DIR to a git clone of github.com/pypiserver/pypiserver',
    };
  if (!existsSync(GIT_DIR)) return { missing: `PYPISERVER_GIT_DIR=${GIT_DIR} does not exist` };
  const head = spawnSync('git', ['--git-dir', GIT_DIR, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return { missing: `cannot read the git clone at PYPISERVER_GIT_DIR=${GIT_DIR}: ${head.stderr}` };
  const dir = join(tmpdir(), `safelist-pypiserver-${head.stdout.trim().slice(0, 12)}`);
  if (existsSync(join(dir, 'pypiserver', '__main__.py'))) return { dir };
  const partial = `${dir}.${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const out = spawnSync('sh', ['-c', `git --git-dir "${GIT_DIR}" archive HEAD pypiserver | tar -x -C "${partial}"`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`extracting pypiserver failed: ${out.stderr}`);
  try {
    renameSync(partial, dir);
  } catch {
    rmSync(partial, { recursive: true, force: true }); // another process won the race
  }
  return { dir };
}

/**
 * backend: 'simple-dir' (default) reads the folder on every request, so a test that changes a
 * file sees the change at once; 'cached-dir' (needs python3-watchdog) caches listings and
 * digests and is pypiserver at its fastest, for benchmarks.
 */
export async function startPypiserver(opts: {
  packagesDir: string;
  port?: number;
  backend?: 'simple-dir' | 'cached-dir';
}): Promise<Pypiserver> {
  const found = pypiserverSource();
  if ('missing' in found) throw new Error(`pypiserver is not available: ${found.missing}`);
  const src = found.dir;
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(
    '/usr/bin/python3',
    [
      '-m',
      'pypiserver',
      'run',
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '--disable-fallback',
      '-a',
      '.',
      '-P',
      '.',
      '--hash-algo',
      'sha256',
      '--backend',
      opts.backend ?? 'simple-dir',
      '--welcome',
      join(src, 'pypiserver', 'welcome.html'),
      opts.packagesDir,
    ],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONPATH: src, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
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
