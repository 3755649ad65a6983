// A job lock whose connection drops: PostgreSQL releases it with the session, so the holder is
// told (its signal aborts with LOCK_LOST) and another replica can take the lock; this process
// keeps the name held until its holder has stopped, and its next lock opens a new connection.
// A connection that falls silent (a network cut that sends no reset) is ended by the session's
// heartbeat, with the same outcome; PostgreSQL keeps the lock until it notices, so nobody else
// has it meanwhile. On PGlite (one process, in-process locks) the signal never aborts. Real
// PostgreSQL, opened twice as two replicas would; the connection is ended with
// pg_terminate_backend, or cut off by a TCP relay that stops passing bytes.
import { createServer, connect, type Server, type Socket } from 'node:net';
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

/** A TCP relay to PostgreSQL that can stop passing bytes on the connections it has, as a network cut would (new ones pass). */
async function cuttableRelay(target: URL): Promise<{ url: string; cut(): void; close(): void }> {
  const pairs: Array<[Socket, Socket]> = [];
  const server: Server = createServer((client) => {
    const db = connect(Number(target.port || 5432), target.hostname);
    client.pipe(db).pipe(client);
    client.on('error', () => db.destroy());
    db.on('error', () => client.destroy());
    pairs.push([client, db]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    cut() {
      for (const [client, db] of pairs.splice(0)) {
        client.unpipe(db);
        db.unpipe(client);
        client.pause();
        db.pause();
      }
    },
    close() {
      server.close();
    },
  };
}

describe('a job lock whose PostgreSQL connection falls silent', () => {
  let drop: () => Promise<void>;
  let relay: Awaited<ReturnType<typeof cuttableRelay>>;
  let a: Db;
  let b: Db;

  beforeAll(async () => {
    const d = await createPgDatabase();
    drop = d.drop;
    relay = await cuttableRelay(new URL(d.url));
    a = await openStateDb({ url: relay.url, pglitePath: 'memory://', lockHeartbeatMs: 2000 });
    b = await openStateDb({ url: d.url, pglitePath: 'memory://' });
  });
  afterAll(async () => {
    await a?.close().catch(() => undefined); // its cut-off sockets may not close cleanly
    await b?.close();
    relay?.close();
    await drop?.();
  });

  it('is ended by the heartbeat: the holder is told, and nobody else has the lock until PostgreSQL lets it go', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let signal: AbortSignal | undefined;
    const holding = a.tryWithLock('test:silent', async (lost) => {
      signal = lost;
      await released;
      return 'stopped';
    });
    await until(() => signal, 'replica A to hold the lock');
    const [pid] = await lockHolders(b, 'test:silent');
    const lostSeen = new Promise<unknown>((r) => signal!.addEventListener('abort', () => r(signal!.reason), { once: true }));
    relay.cut();
    const reason = await lostSeen;
    expect(reason).toMatchObject({ code: LOCK_LOST });
    expect((reason as Error).message).toBe(
      'lost its lock: database connection dropped (no answer from the database within 2000 ms); run it again',
    );
    // PostgreSQL has not noticed yet: its session still holds the lock, so replica B is busy.
    expect(await lockHolders(b, 'test:silent')).toEqual([pid]);
    expect(await b.tryWithLock('test:silent', async () => 'b ran')).toBeUndefined();
    release();
    expect(await holding).toBe('stopped');
    // Once PostgreSQL ends that session (here by hand; its own keepalive would), B takes the lock.
    await terminateLockHolder(b, 'test:silent');
    expect(await b.tryWithLock('test:silent', async () => 'b ran')).toBe('b ran');
    // A's next lock is on a new connection.
    expect(await a.tryWithLock('test:silent', async () => (await lockHolders(b, 'test:silent')).length)).toBe(1);
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
