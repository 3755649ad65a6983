// Two replicas of one catalog for race tests: a writer and a replica, each on a HeldDb (on
// PostgreSQL, each with its own connection pool and listener on one database; on PGlite, one
// database), so a test can put the replica's reload exactly where a loaded machine may: between
// the writer's commits, or answered and not yet installed. With the waits those tests need:
// notifications drained through a marker, reloads settled. Waits are bounded polls on outcomes,
// never on time.
import { CATALOG_CHANNEL } from '../../src/catalog/changes.js';
import { CatalogReloads } from '../../src/catalog/reload.js';
import type { ReplicatedCatalog } from '../../src/catalog/replicated.js';
import { openStateDb } from '../../src/ecosystems/index.js';
import type { Db } from '../../src/state/db.js';
import { databaseConfig, type DbMode } from './databases.js';
import { heldDb, type HeldDb } from './held-db.js';
import { until } from './wait.js';

type AnyCatalog = ReplicatedCatalog<any>;

export interface CatalogReplicas<C extends AnyCatalog> {
  mode: DbMode;
  /** The writer's database and the replica's. */
  dbA: HeldDb;
  dbB: HeldDb;
  writer: C;
  replica: C;
  /** The replica's database under its HeldDb (for a third catalog, on a HeldDb of its own, beside the replica). */
  replicaBase: Db;
  /** The replica's retrier (shared by the catalogs of its process). */
  replicaReloads: CatalogReloads;
  /** Records every payload `db` delivers on CATALOG_CHANNEL from now on, so drain(db) works for it. */
  hear(db: HeldDb): Promise<void>;
  /** Once this returns, every notification sent on `db` before the call has reached its listeners and been handled. */
  drain(db: HeldDb): Promise<void>;
  /** Every held statement let go, and every statement answered and its reload installed. */
  settle(db: HeldDb): Promise<void>;
  /** Waits until a reload on `db` has answered what it sent and waits, held, for the test. */
  heldWithNothingRunning(db: HeldDb, what: string): Promise<void>;
  close(): Promise<void>;
}

const log = { warn: () => undefined, info: () => undefined } as never;

/** One turn of the event loop: the promise continuations queued now have run (a released read's install among them). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A writer and a replica made by `make`, both open, on a fresh database of `mode`. */
export async function catalogReplicas<C extends AnyCatalog>(
  mode: DbMode,
  make: (db: Db, reloads: CatalogReloads) => C,
): Promise<CatalogReplicas<C>> {
  const cfg = await databaseConfig(mode);
  const dbs: Db[] = [await openStateDb(cfg.database)];
  // PostgreSQL: a second replica with its own pool and listener; PGlite has one process, one database.
  dbs.push(mode === 'pg' ? await openStateDb(cfg.database) : dbs[0]!);
  const reloads = [new CatalogReloads(log, { baseMs: 20, maxMs: 200 }), new CatalogReloads(log, { baseMs: 20, maxMs: 200 })];
  const dbA = heldDb(dbs[0]!);
  const dbB = heldDb(dbs[1]!);
  const writer = make(dbA, reloads[0]!);
  const replica = make(dbB, reloads[1]!);
  await writer.open();
  await replica.open();
  const heard = new Map<HeldDb, string[]>();
  const hear = async (db: HeldDb) => {
    const payloads: string[] = [];
    heard.set(db, payloads);
    await db.listen(CATALOG_CHANNEL, (p) => payloads.push(p));
  };
  for (const db of [dbA, dbB]) await hear(db);
  let markers = 0;
  return {
    mode,
    dbA,
    dbB,
    writer,
    replica,
    replicaBase: dbs[1]!,
    replicaReloads: reloads[1]!,
    hear,
    async drain(db) {
      const marker = `marker-${++markers}`;
      await db.notify(CATALOG_CHANNEL, JSON.stringify({ ecosystem: 'none', name: marker }));
      await until(() => heard.get(db)!.some((p) => p.includes(marker)) || undefined, `the ${marker} notification`);
      await turn();
    },
    async settle(db) {
      await turn();
      await until(() => (db.held === 0 && db.running === 0) || undefined, 'the reloads to end');
    },
    async heldWithNothingRunning(db, what) {
      await until(() => (db.held > 0 && db.running === 0) || undefined, what);
    },
    async close() {
      dbA.release();
      dbB.release();
      await writer.close();
      await replica.close();
      for (const r of reloads) r.close();
      for (const db of new Set(dbs)) await db.close();
      await cfg.cleanup();
    },
  };
}
