// Ownership of a PGlite folder (safelist.lock): one holder at a time, named to whoever finds it
// held; a lock left by a dead process (kill -9) or one whose pid now belongs to another process
// is taken over; a freshly created, not yet filled lock is respected, an old empty one is not;
// release never removes a lock another process took over. The lock appears whole or not at
// all (a process that dies while writing it leaves no lock behind), and a lock held on another
// host name is never taken over, whatever its age, and the refusal says so. The holder sweeps
// the side files a killed process left behind, never a fresh one.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { acquireFolderLock, lockHolderOf, LOCK_FILE } from '../../src/state/folder-lock.js';

describe('the PGlite folder lock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const holder = (pid: number, extra: object = {}) =>
    JSON.stringify({ pid, host: hostname(), command: 'safelist serve', nonce: 'n1', since: new Date().toISOString(), ...extra });
  const refused = (command: string) => {
    try {
      acquireFolderLock(dir, command);
    } catch (err) {
      return err;
    }
    throw new Error('the lock was taken');
  };

  it('admits one holder, names it to the next (with the server URL, never the token), and frees the folder on release', async () => {
    const a = acquireFolderLock(dir, 'safelist serve');
    expect((await stat(join(dir, LOCK_FILE))).mode & 0o777).toBe(0o600);
    a.publish({ url: 'http://127.0.0.1:8080', token: 'secret-token' });
    const err = refused('safelist sync') as Error;
    expect(err.message).toMatch(new RegExp(`in use by safelist serve \\(pid ${process.pid}\\) at http://127\\.0\\.0\\.1:8080`));
    expect(err.message).not.toContain('secret-token');
    expect(lockHolderOf(err)).toMatchObject({ url: 'http://127.0.0.1:8080', token: 'secret-token' });
    a.release();
    acquireFolderLock(dir, 'safelist sync').release();
  });

  it('takes over the lock of a process that was killed', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await new Promise((r) => child.once('spawn', r));
    await writeFile(join(dir, LOCK_FILE), holder(child.pid!));
    expect(refused('safelist sync')).toBeInstanceOf(Error);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const b = acquireFolderLock(dir, 'safelist sync');
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, command: 'safelist sync' });
    b.release();
  });

  it('takes over a lock whose pid now belongs to another process (start time differs)', async () => {
    await writeFile(join(dir, LOCK_FILE), holder(process.pid, { procStart: '1' }));
    acquireFolderLock(dir, 'safelist serve').release();
  });

  it('respects a lock being written, but not an empty one left long ago', async () => {
    await writeFile(join(dir, LOCK_FILE), '');
    expect((refused('safelist serve') as Error).message).toMatch(/in use by a process that is starting/);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, LOCK_FILE), old, old);
    acquireFolderLock(dir, 'safelist serve').release();
  });

  it('never removes a lock another process took over', async () => {
    const a = acquireFolderLock(dir, 'safelist serve');
    // As if this process had been declared dead and another took over.
    await writeFile(join(dir, LOCK_FILE), holder(process.pid, { nonce: 'someone-else' }));
    a.release();
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ nonce: 'someone-else' });
  });

  it('sweeps the side files a killed process left (old .new, .tmp, .stale-*), never a fresh one or other files', async () => {
    const old = new Date(Date.now() - 60_000);
    const leftovers = [`${LOCK_FILE}.0123456789abcdef.new`, `${LOCK_FILE}.fedcba9876543210.tmp`, `${LOCK_FILE}.stale-4242-deadbeef`];
    for (const name of leftovers) {
      await writeFile(join(dir, name), holder(4242));
      await utimes(join(dir, name), old, old);
    }
    const racing = `${LOCK_FILE}.aaaaaaaaaaaaaaaa.new`; // another process between writing and linking, right now
    await writeFile(join(dir, racing), holder(4343));
    await writeFile(join(dir, 'PG_VERSION'), '17\n');
    await utimes(join(dir, 'PG_VERSION'), old, old);
    const lock = acquireFolderLock(dir, 'safelist serve');
    try {
      expect((await readdir(dir)).sort()).toEqual([LOCK_FILE, racing, 'PG_VERSION'].sort());
    } finally {
      lock.release();
    }
  });

  it('never shows a half-written lock: a process that cannot write it leaves none behind', async () => {
    // The child may create files but not write a byte into them (ulimit -f 0): taking the lock
    // fails while writing its content. With create-then-fill it left an empty safelist.lock that
    // held the folder as "a process that is starting"; written aside and linked, nothing appears.
    const script = `import { acquireFolderLock } from ${JSON.stringify(join(ROOT, 'src/state/folder-lock.ts'))};
      try { acquireFolderLock(${JSON.stringify(dir)}, 'safelist serve'); process.exit(0); } catch (e) { console.error(e.code); process.exit(3); }`;
    const child = spawn('bash', ['-c', `ulimit -f 0; exec "${process.execPath}" --import tsx --input-type=module -e "$0"`, script], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, stderr).not.toBe(0);
    expect(await readdir(dir)).toEqual([]);
    const b = acquireFolderLock(dir, 'safelist sync');
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, command: 'safelist sync' });
    b.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('never takes over a lock held on another host name, however old, and says so', async () => {
    const foreign = JSON.stringify({
      pid: 1,
      host: `not-${hostname()}`,
      command: 'safelist serve',
      nonce: 'n2',
      since: '2020-01-01T00:00:00Z',
    });
    await writeFile(join(dir, LOCK_FILE), foreign);
    const old = new Date(Date.now() - 86_400_000);
    await utimes(join(dir, LOCK_FILE), old, old);
    const err = refused('safelist serve') as Error;
    expect(lockHolderOf(err)).toMatchObject({ host: `not-${hostname()}` });
    expect(err.message).toContain(`(pid 1 on not-${hostname()})`);
    expect(err.message).toContain(`A lock held on another host (not-${hostname()}) is never taken over`);
    expect(err.message).toContain(`delete ${join(dir, LOCK_FILE)}`);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(foreign);
  });
});
