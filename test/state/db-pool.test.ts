// PostgreSQL connections under load: jobs hold their advisory locks on one session of their own,
// so more concurrent jobs than the request pool has connections leave requests answered; and a
// pool whose every connection stays busy answers 503 with Retry-After after database.connectionTimeout
// instead of hanging. Real PostgreSQL (the pool and advisory locks are what is tested).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockKey } from '../../src/state/db.js';
import { createPgDatabase } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const ADMIN = 'admin-token-0123456789';
const POOL = 3;

describe('PostgreSQL pool and job locks', () => {
  let sl: TestSafelist;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const d = await createPgDatabase();
    drop = d.drop;
    sl = await startTestSafelist({
      databaseUrl: d.url,
      extra: {
        database: { url: d.url, pglitePath: 'memory://', poolSize: POOL, connectionTimeout: '1s' },
        auth: { tokens: [{ id: 'oid-admin', token: ADMIN, roles: ['admin'] }] },
      },
    });
  });
  afterAll(async () => {
    await sl?.stop();
    await drop?.();
  });

  const demand = () => fetch(`${sl.url}/api/v1/demand`, { headers: { authorization: `Bearer ${ADMIN}` } });

  it('runs more concurrent jobs than the pool has connections while requests are still answered', async () => {
    const db = sl.runtime.db;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const count = 4 * POOL + 2; // more than the old fixed pool of 10, too
    const jobs = Array.from({ length: count }, (_, i) =>
      db.tryWithLock(`test:held-${i}`, async () => {
        await db.query('SELECT 1');
        await gate;
        return i;
      }),
    );
    // pg_locks is the whole cluster's: other test files' databases and this server's own jobs hold
    // advisory locks too, so only this test's keys in this database are counted.
    const keys = Array.from({ length: count }, (_, i) => BigInt.asUintN(64, BigInt(lockKey(`test:held-${i}`))).toString());
    const held = async (): Promise<number> => {
      const [r] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (classid::bigint::numeric * 4294967296 + objid::bigint::numeric) = ANY($1::numeric[])`,
        [keys],
      );
      return r!.n;
    };
    await until(async () => (await held()) >= count || undefined, 'every job to hold its lock');
    // A second run of a held job is busy, in this process as across replicas.
    expect(await db.tryWithLock('test:held-0', async () => 'ran')).toBeUndefined();
    expect((await demand()).status).toBe(200);
    expect((await fetch(`${sl.url}/readyz`)).status).toBe(200);
    release();
    expect(await Promise.all(jobs)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(await held()).toBe(0);
  });

  it('answers 503 with Retry-After, naming the wait, when every pool connection stays busy', async () => {
    const db = sl.runtime.db;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let holding = 0;
    const holds = Array.from({ length: POOL }, () =>
      db.tx(async (q) => {
        await q.query('SELECT 1');
        holding++;
        await gate;
      }),
    );
    try {
      await until(() => holding === POOL || undefined, 'every pool connection to be taken');
      const res = await demand();
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no database connection became free within 1000ms/);
    } finally {
      release();
      await Promise.all(holds);
    }
    expect((await demand()).status).toBe(200);
  });
});
