// A job lock whose connection drops: PostgreSQL releases it with the session, so the holder is
// told (its signal aborts with LOCK_LOST) and another replica can take the lock; this process
// keeps the name held until its holder has stopped, and its next lock opens a new connection.
// On PGlite (one process, in-process locks) the signal never aborts. Real PostgreSQL, two
// databases opened as two replicas would; the connection is ended with pg_terminate_backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_LOST, SafelistError } from '../../src/errors.js';
import { openStateDb } from '../../src/ecosystems/index.js';
import type { Db } from '../../src/state/db.js';
import { lockHolders, terminateLockHolder } from '../support/advisory-locks.js';
import { createPgDatabase, seededPglite } from '../support/databases.js';
import { until } from '../support/wait.js';

describe('a job lock whose PostgreSQL connection drops', () => {
  let drop: () => Promise<void>;
  let a: Db;
  let b: Db;

  beforeAll(async () => {
    const d = await createPgDatabase();
    drop = d.drop;
    a = await openStateDb({ url: d.url, pglitePath: 'memory://' });
    b = await openStateDb({ url: d.url, pglitePath: 'memory://' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
  });

  it('tells the holder, lets the other replica take it once, and takes locks again on a new connection', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let signal: AbortSignal | undefined;
    const holding = a.tryWithLock('test:lost', async (lost) => {
      signal = lost;
      await released; // a job that goes on until told: the test stands for its next file boundary
      return 'stopped';
    });
    await until(() => signal, 'replica A to hold the lock');
    expect(await b.tryWithLock('test:lost', async () => 'ran')).toBeUndefined(); // held across replicas
    const lostSeen = new Promise<unknown>((r) => signal!.addEventListener('abort', () => r(signal!.reason), { once: true }));
    expect(signal!.aborted).toBe(false);

    await terminateLockHolder(b, 'test:lost');
    const reason = await lostSeen;
    expect(reason).toBeInstanceOf(SafelistError);
    expect(reason).toMatchObject({ code: LOCK_LOST, status: 503 });
    expect((reason as Error).message).toMatch(
      /^lost its lock: database connection dropped \(terminating connection due to administrator command\); run it again$/,
    );
    // PostgreSQL let the lock go: replica B takes it. A's holder has not returned yet, so A
    // itself does not start the name a second time.
    let bHolds!: () => void;
    const bHolding = new Promise<void>((r) => (bHolds = r));
    let bRelease!: () => void;
    const bRun = b.tryWithLock('test:lost', async () => (bHolds(), await new Promise<void>((r) => (bRelease = r)), 'b ran'));
    await bHolding;
    expect(await a.tryWithLock('test:lost', async () => 'a again')).toBeUndefined();
    release();
    expect(await holding).toBe('stopped');
    // A's holder has stopped; B still holds the lock, which A (on a new connection) now sees.
    expect(await a.tryWithLock('test:lost', async () => 'a again')).toBeUndefined();
    bRelease();
    expect(await bRun).toBe('b ran');
    // A's next lock is on a new session, a real one: B is busy while A holds it.
    const pids = await a.tryWithLock('test:lost', async () => ({
      holders: await lockHolders(b, 'test:lost'),
      fromB: await b.tryWithLock('test:lost', async () => 'b ran'),
    }));
    expect(pids?.holders).toHaveLength(1);
    expect(pids?.fromB).toBeUndefined();
    expect(await lockHolders(b, 'test:lost')).toEqual([]);
  });
});

describe('a job lock on PGlite', () => {
  it('is held in this process and its signal never aborts', async () => {
    const db = await openStateDb(seededPglite());
    try {
      const seen = await db.tryWithLock('test:local', async (lost) => ({
        aborted: lost.aborted,
        again: await db.tryWithLock('test:local', async () => 'ran'),
      }));
      expect(seen).toEqual({ aborted: false, again: undefined });
      expect(await db.tryWithLock('test:local', async () => 'ran')).toBe('ran');
    } finally {
      await db.close();
    }
  });
});
