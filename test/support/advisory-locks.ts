// Who holds a job's advisory lock on real PostgreSQL, and cutting that holder off as a server
// restart or a network failure would (pg_terminate_backend): for tests of what a process does
// when its lock connection drops. Only this database's locks count (pg_locks is cluster-wide).
import type { Queryable } from '../../src/state/db.js';
import { lockKey } from '../../src/state/db.js';

/** The backend pids holding the advisory lock of a job lock name in the current database. */
export async function lockHolders(db: Queryable, name: string): Promise<number[]> {
  const key = BigInt.asUintN(64, BigInt(lockKey(name))).toString();
  const rows = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 1
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND (classid::bigint::numeric * 4294967296 + objid::bigint::numeric) = $1::numeric`,
    [key],
  );
  return rows.map((r) => r.pid);
}

/** Ends the connection holding the lock (as a restart or network cut would); resolves once it is gone. */
export async function terminateLockHolder(db: Queryable, name: string): Promise<number> {
  const [pid, ...more] = await lockHolders(db, name);
  if (pid === undefined || more.length)
    throw new Error(`expected one holder of lock ${name}, found ${more.length + (pid === undefined ? 0 : 1)}`);
  // The timeout argument makes it wait for the backend to exit (PostgreSQL 14+).
  const [r] = await db.query<{ ok: boolean }>('SELECT pg_terminate_backend($1, 30000) AS ok', [pid]);
  if (!r?.ok) throw new Error(`the backend ${pid} holding lock ${name} did not end`);
  return pid;
}
