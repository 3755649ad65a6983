// The embedded database (a PGlite folder) belongs to one process. Whoever opens it — the server
// or a CLI command — first takes `safelist.lock` in the folder: written whole to a file of its
// own (mode 0600), then link(2)ed into place, which fails when the name exists (exclusive like
// O_EXCL, and a reader never sees an empty or half-written lock). It holds the holder's pid, its start time, the
// command, and — for a running server, once it listens — the URL and a per-start admin token
// that lets local CLI commands hand their jobs to it. A lock left by a killed process (kill -9)
// is recognised as stale (no process with that pid and start time) and taken over; a lock
// held on another host name (a shared volume) is never taken over: its process cannot be checked.
// The holder also sweeps what a process killed mid-step leaves beside the lock (a `.new` written
// but never linked, a `.tmp` never renamed, a `.stale-*` moved aside), once such a file is older
// than any step takes.
// Must never let two processes open one folder, and never delete a lock it does not own.
import { randomBytes } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errors, SafelistError } from '../errors.js';

export const LOCK_FILE = 'safelist.lock';
const PARTIAL_STALE_MS = 10_000;

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

export interface LockHolder {
  pid: number;
  /** Process start time (Linux /proc; absent elsewhere): tells a live holder from a reused pid. */
  procStart?: string;
  host: string;
  command: string;
  nonce: string;
  since: string;
  /** Set by a server once it listens: where local commands hand their jobs. */
  url?: string;
  /** Per-start admin token for that hand-off; readable only by who can read the folder (0600). */
  token?: string;
}

export interface FolderLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Announces where this process takes jobs (the server, after listen). */
  publish(offer: { url: string; token: string }): void;
  release(): void;
}

function procStart(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat, counted after the command name (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // another machine's process: cannot tell, so it holds
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStart(h.pid);
  return !(h.procStart && now && now !== h.procStart);
}

function readHolderFile(path: string): LockHolder | 'absent' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'unreadable';
  }
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    // Being written right now (created, not yet filled): a holder that is starting.
    return { pid: 0, host: hostname(), command: 'a process that is starting', nonce: '', since: '' };
  }
}

function inUse(folder: string, h: LockHolder) {
  const who = h.pid ? `${h.command} (pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ''})` : h.command;
  const e = errors.databaseInUse(
    `the embedded database ${folder} is in use by ${who}${h.url ? ` at ${h.url}` : ''}; one process owns a PGlite folder. ` +
      (h.url
        ? `Commands that run jobs (sync, import, acr-import, publish, audit anchor) hand them to that server; for the others ask its API (${h.url}/api/v1/policy/why, ${h.url}/api/v1/audit) or stop the server first`
        : h.command === 'safelist serve'
          ? 'The server is starting and takes no jobs yet: run this again in a moment'
          : 'Wait for it to finish (or stop it), then run this again; for several processes at once use PostgreSQL (database.url)') +
      // A holder on another machine (a shared volume) cannot be checked from here.
      (h.host !== hostname()
        ? `. A lock held on another host (${h.host}) is never taken over, as this host cannot tell whether its process is alive; if that process is gone, delete ${join(folder, LOCK_FILE)}`
        : ''),
  );
  // The holder (with the hand-off URL and token) travels with the error, never in its message
  // or its problem+json members.
  Object.defineProperty(e, 'holder', { value: h, enumerable: false });
  return e;
}

/** The holder named by a DATABASE_IN_USE error (undefined for any other error). */
export function lockHolderOf(err: unknown): LockHolder | undefined {
  return err instanceof SafelistError && err.code === 'DATABASE_IN_USE'
    ? (err as SafelistError & { holder?: LockHolder }).holder
    : undefined;
}

/**
 * Creates the lock file with its whole content, or returns false when one exists: written to a
 * file of its own first, then hard-linked into place (link(2) fails if the name exists, like
 * O_EXCL), so a reader sees no lock or a complete one, never an empty or half-written file.
 */
function createFilled(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.${holder.nonce}.new`;
  try {
    writeFileSync(tmp, JSON.stringify(holder), { mode: 0o600, flag: 'wx' });
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Takes the folder's lock, taking over a stale one; throws DATABASE_IN_USE naming the holder. */
export function acquireFolderLock(folder: string, command: string): FolderLock {
  const path = join(folder, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command,
    nonce: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
    ...(procStart(process.pid) ? { procStart: procStart(process.pid)! } : {}),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createFilled(path, holder)) {
      sweepLeftovers(folder, holder);
      return lockHandle(path, holder);
    }
    const current = readHolderFile(path);
    if (current === 'absent') continue;
    if (current === 'unreadable')
      throw inUse(folder, { pid: 0, host: hostname(), command: 'unknown (lock file not readable)', nonce: '', since: '' });
    // An empty or half-written file (an older Safelist created, then filled it) is a holder
    // starting — unless it is older than any start takes (killed between creating and filling).
    const starting = current.pid === 0 && Date.now() - mtimeMs(path) < PARTIAL_STALE_MS;
    const foreign = current.host !== hostname();
    if (foreign || starting || (current.pid !== 0 && alive(current))) throw inUse(folder, current);
    takeOverStale(path, current);
  }
  throw inUse(folder, { pid: 0, host: hostname(), command: 'another process racing for it', nonce: '', since: '' });
}

/**
 * Removes the side files of steps that never finished (a process killed between writing and
 * linking, renaming or unlinking), once older than PARTIAL_STALE_MS: a live process finishes each
 * step within milliseconds, so an older one is left behind. Runs only while holding the lock,
 * never touches the lock itself or this holder's own files, and a file that vanishes meanwhile
 * (its process finished the step) is not an error.
 */
function sweepLeftovers(folder: string, holder: LockHolder): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return; // the lock was just created in it: an unreadable listing only means nothing to sweep
  }
  const side = new RegExp(`^${LOCK_FILE.replace('.', '\\.')}\\.(?:[0-9a-f]+\\.(?:new|tmp)|stale-\\d+-[0-9a-f]+)$`);
  for (const name of names) {
    if (!side.test(name) || name.includes(holder.nonce)) continue;
    const file = join(folder, name);
    if (Date.now() - mtimeMs(file) >= PARTIAL_STALE_MS) rmSync(file, { force: true });
  }
}

/**
 * Moves a dead holder's file aside. Two processes may find the same stale file: the move is a
 * rename, so only one moves it; if what was moved is not the dead holder's (someone already
 * took over), it is put back, never deleted.
 */
function takeOverStale(path: string, stale: LockHolder): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readHolderFile(aside);
  if (moved !== 'absent' && moved !== 'unreadable' && moved.nonce !== stale.nonce) {
    try {
      linkSync(aside, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  unlinkSync(aside);
}

function lockHandle(path: string, holder: LockHolder): FolderLock {
  let released = false;
  const owned = () => {
    const h = readHolderFile(path);
    return h !== 'absent' && h !== 'unreadable' && h.nonce === holder.nonce;
  };
  return {
    path,
    holder,
    publish(offer) {
      Object.assign(holder, offer);
      // Written aside and renamed over: a reader sees the old or the new content, never half.
      const tmp = `${path}.${holder.nonce}.tmp`;
      writeFileSync(tmp, JSON.stringify(holder), { mode: 0o600 });
      if (!owned()) {
        unlinkSync(tmp);
        throw new Error(`the lock ${path} is no longer this process's`);
      }
      renameSync(tmp, path);
    },
    release() {
      if (released) return;
      released = true;
      if (owned()) unlinkSync(path);
    },
  };
}
