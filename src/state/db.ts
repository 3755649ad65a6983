// The state store: PostgreSQL through one small interface, either a server (`pg`, via
// DATABASE_URL) or PGlite in-process (the embedded default). Migrations run at open.
// An empty PGlite database (memory:// or a folder holding none yet) may start from a template, a
// data-folder tarball (PGlite's dumpDataDir, see pgliteTemplate): migrations still run after it
// is loaded, so a template older than the code is upgraded. A template never overwrites a
// database that already exists.
// Notifications (LISTEN/NOTIFY) carry catalog and policy changes between replicas.
// On PostgreSQL, requests share a bounded pool whose waits are bounded too (connectionTimeout):
// an exhausted pool answers UNAVAILABLE (503, Retry-After) instead of hanging. Job locks never
// take a pool connection: every advisory lock of this process lives on one connection of its
// own (LockSession), so any number of running jobs cannot starve request handling; when that
// connection drops, or stops answering (lockHeartbeatMs), the jobs holding locks on it are told
// (their signal aborts) and stop.
import type pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { existsSync, mkdirSync, openAsBlob } from 'node:fs';
import { Socket } from 'node:net';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Migration } from './migrations.js';
import { errors } from '../errors.js';
import { acquireFolderLock, type FolderLock } from './folder-lock.js';
import { ensureInitialised } from './pglite-initdb.js';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** Runs fn in one transaction; rolls back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to a notification channel; returns the unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** Called after a lost notification connection is back (missed notifications: reload caches). */
  onReconnect(fn: () => void): void;
  /**
   * Runs fn only if no other holder (any replica) has the named lock; resolves undefined
   * when someone else holds it. The lock is released when fn settles or the session dies;
   * when the session dies first, fn's signal aborts with LOCK_LOST (errors.lockLost) and fn
   * must stop: another holder may have the lock by then. It never aborts on PGlite.
   */
  tryWithLock<T>(name: string, fn: (lost: AbortSignal) => Promise<T>): Promise<T | undefined>;
  /** The PGlite folder's ownership (folder-lock.ts); absent for PostgreSQL and memory://. */
  readonly folderLock?: FolderLock;
  close(): Promise<void>;
}

/**
 * Runs fn in one read-only REPEATABLE READ transaction: every statement of it reads one snapshot
 * (the database as of its first statement), whatever commits meanwhile. For a read too large for
 * one statement's result (read in pages); a read that fits in one statement needs none.
 */
export function readSnapshot<T>(db: Db, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db.tx(async (q) => {
    await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return fn(q);
  });
}

/** The signed 64-bit advisory lock key of a lock name (exported for tests that read pg_locks). */
export function lockKey(name: string): string {
  return BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 16)}`)).toString();
}

const CHANNEL = /^[a-z_]+$/;

/**
 * Every advisory lock of this process on one connection of its own, outside the pool: taking a
 * lock costs two short queries there, and a job holding one keeps no pool connection. A lock
 * name is held once per process (the in-process map: session locks are re-entrant in
 * PostgreSQL), and once across replicas (pg_try_advisory_lock). If the connection drops
 * (PostgreSQL restarts, pg_terminate_backend, the network), every lock of this process is gone
 * with it and another replica may take them: each holder's signal aborts (LOCK_LOST) so its
 * job stops, and the next lock opens a new connection. A name stays held in this process until
 * its holder has stopped, so this process never runs it twice either. A network cut that sends
 * no reset ends nothing by itself: while locks are held, the connection is asked every
 * heartbeatMs, and one that gives no answer within heartbeatMs is ended here (its socket
 * destroyed) and its holders are told. PostgreSQL keeps such a lock until it notices the
 * session is gone, so no other replica has it before that either.
 */
class LockSession {
  private client: Promise<pg.Client> | undefined;
  private current: pg.Client | undefined;
  /** Each lock held (or being taken) by this process: the connection it is on, and its holder's signal. */
  private readonly held = new Map<string, { client?: pg.Client; lost: AbortController }>();
  /** Each connection's socket, and the first reason it failed (what its holders are told). */
  private readonly sockets = new WeakMap<pg.Client, { socket: Socket; cause?: Error }>();
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;
  private closed = false;

  constructor(
    private readonly pgModule: PgModule,
    private readonly url: string,
    private readonly heartbeatMs: number,
  ) {}

  private connection(): Promise<pg.Client> {
    if (this.closed) return Promise.reject(errors.unavailable('the database is closing; no job can start'));
    this.client ??= (async () => {
      // The socket is ours (pg's `stream` option) so that a connection gone silent can be ended.
      const conn: { socket: Socket; cause?: Error } = { socket: new Socket() };
      const c = new this.pgModule.Client({ connectionString: this.url, stream: () => conn.socket });
      this.sockets.set(c, conn);
      c.on('error', (err) => (conn.cause ??= err)); // the first says why; followed by 'end', handled there
      c.on('end', () => this.dropped(c, conn.cause?.message ?? 'the connection ended'));
      try {
        await c.connect();
        this.current = c;
        return c;
      } catch (err) {
        this.client = undefined;
        throw err;
      }
    })();
    return this.client;
  }

  async tryWithLock<T>(key: string, fn: (lost: AbortSignal) => Promise<T>): Promise<T | undefined> {
    if (this.held.has(key)) return undefined;
    const entry: { client?: pg.Client; lost: AbortController } = { lost: new AbortController() };
    this.held.set(key, entry);
    try {
      const c = await this.connection();
      entry.client = c; // from here, a drop of c aborts entry.lost
      const [row] = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key])).rows;
      if (!row?.ok) return undefined;
      this.heartbeat ??= setInterval(() => void this.beat(), this.heartbeatMs).unref();
      try {
        return await fn(entry.lost.signal);
      } finally {
        // A lost lock is gone already; its connection is ended, not asked.
        if (!entry.lost.signal.aborted) await this.unlock(c, key);
      }
    } finally {
      this.held.delete(key);
    }
  }

  /** A failed unlock ends the session: kept, it would hold the lock for ever. */
  private async unlock(c: pg.Client, key: string): Promise<void> {
    try {
      await c.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
    } catch (err) {
      // The session is thrown away (and its locks with it: their holders are told); the next lock opens a new one.
      this.dropped(c, `unlock failed: ${(err as Error).message}`);
      await c.end().catch(() => undefined); // ending a broken session: its error changes nothing
    }
  }

  /** Asks the lock connection whether it is there, while it holds locks; ends it when no answer comes in time. */
  private async beat(): Promise<void> {
    const c = this.current;
    if (!c || ![...this.held.values()].some((e) => e.client === c)) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      return;
    }
    if (this.beating) return;
    this.beating = true;
    const conn = this.sockets.get(c)!;
    const deadline = setTimeout(() => {
      conn.cause ??= new Error(`no answer from the database within ${this.heartbeatMs} ms`);
      conn.socket.destroy(); // pg then ends the client: 'end' tells the holders
    }, this.heartbeatMs);
    try {
      await c.query('SELECT 1');
    } catch {
      // A failed query means a broken connection, whose 'end' tells the holders.
    } finally {
      clearTimeout(deadline);
      this.beating = false;
    }
  }

  /** The connection c is gone, and every lock on it: their holders' signals abort. */
  private dropped(c: pg.Client, why: string): void {
    if (this.current === c) {
      this.current = undefined;
      this.client = undefined;
    }
    for (const entry of this.held.values()) if (entry.client === c && !entry.lost.signal.aborted) entry.lost.abort(errors.lockLost(why));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    const c = await this.client?.catch(() => undefined); // never connected: nothing to end
    await c?.end().catch(() => undefined); // closing: a session that fails to end cleanly is gone either way
  }
}

class PgDb implements Db {
  readonly kind = 'pg' as const;
  private listener: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(p: string) => void>>();

  private readonly locks: LockSession;

  constructor(
    private readonly pgModule: PgModule,
    private readonly pool: pg.Pool,
    private readonly url: string,
    lockHeartbeatMs: number,
  ) {
    this.locks = new LockSession(pgModule, url, lockHeartbeatMs);
  }

  /** A pool connection, or UNAVAILABLE when none frees up within connectionTimeout. */
  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.poolError(err);
    }
  }

  /** pg-pool's wait for a connection (a free one, or a new one opening) ran out; it gives no code, only this message: 503, not 500. */
  private poolError(err: unknown): unknown {
    if (!(err instanceof Error) || !/timeout exceeded when trying to connect/i.test(err.message)) return err;
    const { max, connectionTimeoutMillis } = this.pool.options;
    return errors.unavailable(
      `no database connection became free within ${connectionTimeoutMillis}ms (${this.pool.totalCount} of ${max} open: every one busy, or the database slow to accept); retry shortly`,
    );
  }

  async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      return (await this.pool.query(sql, params as unknown[])).rows as T[];
    } catch (err) {
      throw this.poolError(err);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await fn({
        query: async <R>(s: string, p?: unknown[]) => (await client.query(s, p as unknown[])).rows as R[],
        exec: async (s: string) => void (await client.query(s)),
      });
      await client.query('COMMIT');
      return out;
    } catch (err) {
      // The caller needs the transaction's own error. A ROLLBACK that fails means a broken
      // connection: it is destroyed (release(err)), never handed out again mid-transaction.
      broken = await client.query('ROLLBACK').then(
        () => undefined,
        (e: Error) => e,
      );
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    if (!CHANNEL.test(channel)) throw new Error(`bad channel ${channel}`);
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.listener) await this.listener.query(`LISTEN ${channel}`);
    }
    set.add(onPayload);
    if (!this.listener && !this.reconnecting) await this.connectListener();
    return async () => {
      set!.delete(onPayload);
    };
  }

  onReconnect(fn: () => void): void {
    this.reconnectHandlers.add(fn);
  }

  /**
   * One connection LISTENs on every channel. When it drops (server restart, network), it is
   * re-established with back-off and every channel is LISTENed again; notifications sent in
   * between are lost, so the onReconnect handlers reload what they cache.
   */
  private async connectListener(): Promise<void> {
    const c = new this.pgModule.Client({ connectionString: this.url });
    c.on('error', () => undefined); // followed by 'end', handled there
    c.on('notification', (n) => {
      for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    c.on('end', () => {
      if (this.listener === c) this.listener = undefined;
      if (!this.closed) this.scheduleReconnect(250);
    });
    await c.connect();
    for (const ch of this.handlers.keys()) await c.query(`LISTEN ${ch}`);
    this.listener = c;
  }

  private reconnecting = false;
  private closed = false;
  private readonly reconnectHandlers = new Set<() => void>();

  private scheduleReconnect(delayMs: number): void {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    setTimeout(() => {
      this.connectListener().then(
        () => {
          this.reconnecting = false;
          for (const fn of this.reconnectHandlers) fn();
        },
        () => {
          this.reconnecting = false;
          this.scheduleReconnect(Math.min(delayMs * 2, 5000));
        },
      );
    }, delayMs).unref();
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  tryWithLock<T>(name: string, fn: (lost: AbortSignal) => Promise<T>): Promise<T | undefined> {
    return this.locks.tryWithLock(lockKey(name), fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Safe: closing; a listener connection that fails to end cleanly is gone either way.
    await this.listener?.end().catch(() => undefined);
    await this.locks.close();
    await this.pool.end();
  }
}

class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  constructor(
    private readonly db: PGlite,
    readonly folderLock?: FolderLock,
  ) {}

  async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    const r = await this.db.query<T>(sql, params);
    return r.rows;
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (t) =>
      fn({
        query: async <R>(s: string, p?: unknown[]) => (await t.query<R>(s, p)).rows,
        exec: async (s: string) => void (await t.exec(s)),
      }),
    );
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    if (!CHANNEL.test(channel)) throw new Error(`bad channel ${channel}`);
    return this.db.listen(channel, onPayload);
  }

  onReconnect(): void {
    // In-process: the connection never drops.
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  private readonly held = new Set<string>();

  async tryWithLock<T>(name: string, fn: (lost: AbortSignal) => Promise<T>): Promise<T | undefined> {
    // PGlite is one process with one connection: an in-process lock is the whole story, never lost.
    if (this.held.has(name)) return undefined;
    this.held.add(name);
    try {
      return await fn(new AbortController().signal);
    } finally {
      this.held.delete(name);
    }
  }

  /** The data folder as a tarball (see writePgliteTemplate). */
  async dumpDataDir(): Promise<Uint8Array> {
    const blob = await this.db.dumpDataDir('none');
    return new Uint8Array(await blob.arrayBuffer());
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      this.folderLock?.release();
    }
  }
}

export interface OpenDbOptions {
  url?: string;
  pglitePath: string;
  /** PostgreSQL settings for PGlite (config database.pgliteSettings), e.g. { shared_buffers: '8MB' }. */
  pgliteSettings?: Record<string, string>;
  /** Who opens a PGlite folder (named to whoever finds it held), e.g. "safelist serve". */
  holder?: string;
  /**
   * PGlite: a data-folder tarball (.tar or .tgz, as writePgliteTemplate or PGlite's dumpDataDir
   * write it) an empty database starts from instead of initdb (config database.pgliteTemplate).
   * Ignored when the folder already holds a database, and on a PostgreSQL server.
   */
  pgliteTemplate?: string;
  /** PostgreSQL: connections in the request pool (database.poolSize). */
  poolSize?: number;
  /** PostgreSQL: how long a query waits for a free pool connection before UNAVAILABLE (database.connectionTimeout). */
  connectionTimeoutMs?: number;
  /** PostgreSQL: how often the job-lock connection is asked while it holds locks, and how long it may take to answer (database.lockHeartbeat). */
  lockHeartbeatMs?: number;
  /**
   * Every migration, composed (state/migrations.ts composeMigrations) from the core's and each
   * ecosystem's: the registry's openStateDb (ecosystems/index.ts) passes the full list, so open
   * the database through it.
   */
  migrations: readonly Migration[];
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.url) {
    const driver = await loadPg();
    const pool = new driver.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    });
    // Surface connection errors as rejected queries, not as an unhandled 'error' event.
    pool.on('error', () => undefined);
    db = new PgDb(driver, pool, opts.url, opts.lockHeartbeatMs ?? 15_000);
  } else if (opts.pglitePath === 'memory://') {
    const { PGlite } = await loadPglite();
    const template = await readTemplate(opts.pgliteTemplate);
    db = new PgliteDb(new PGlite(pgliteOptions(PGlite, opts.pgliteSettings, template)));
  } else {
    // Loaded before the folder lock is taken: nothing to release if the module cannot load.
    const { PGlite } = await loadPglite();
    mkdirSync(opts.pglitePath, { recursive: true });
    // One process per folder: two PGlite instances on one folder silently lose writes.
    const lock = acquireFolderLock(opts.pglitePath, opts.holder ?? `safelist (pid ${process.pid})`);
    try {
      // Checked under the lock: a folder with a database keeps it, whatever the template holds.
      const empty = !existsSync(join(opts.pglitePath, 'PG_VERSION'));
      const template = empty ? await readTemplate(opts.pgliteTemplate) : undefined;
      const options = pgliteOptions(PGlite, opts.pgliteSettings, template);
      // Without a template, initdb runs in a child process: this process never grows to initdb's size (pglite-initdb.ts).
      if (!template) await ensureInitialised(opts.pglitePath, options.startParams);
      db = new PgliteDb(new PGlite(opts.pglitePath, options), lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  try {
    await migrate(db, opts.migrations);
  } catch (err) {
    await db.close().catch(() => undefined); // the migration error is the one to report
    throw err;
  }
  return db;
}

/** The `pg` driver's module (its default export: Client, Pool, types). */
type PgModule = typeof pg;

/**
 * The `pg` driver (~1.3 MiB of heap with pg-protocol, pg-types and pg-pool) is imported only
 * when a PostgreSQL server is opened: an embedded server or CLI (PGlite) never loads it.
 */
async function loadPg(): Promise<PgModule> {
  return (await import('pg')).default;
}

/**
 * PGlite's JavaScript (several MiB of heap once loaded) is imported only when the embedded
 * database is opened: a server on PostgreSQL (database.url) never loads it.
 */
async function loadPglite(): Promise<typeof import('@electric-sql/pglite')> {
  return import('@electric-sql/pglite');
}

/** PGlite's own start parameters plus one `-c name=value` per setting (later ones win), and the template to load. */
function pgliteOptions(
  PGlite: { defaultStartParams: string[] },
  settings: Record<string, string> = {},
  template?: Blob,
): { startParams: string[]; loadDataDir?: Blob } {
  const startParams = [...PGlite.defaultStartParams, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  return template ? { startParams, loadDataDir: template } : { startParams };
}

/** Applies pending migrations in the list's order (sorted by id), under an advisory lock so replicas do not race. */
export async function migrate(db: Db, migrations: readonly Migration[]): Promise<void> {
  await db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock(7301001)');
    await q.query('CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await q.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await q.exec(m.sql);
      await q.query('INSERT INTO schema_migrations (id) VALUES ($1)', [m.id]);
    }
  });
}

/** The template tarball as PGlite loads it; a missing or unreadable file stops the open, naming the setting. */
async function readTemplate(path: string | undefined): Promise<Blob | undefined> {
  if (path === undefined) return undefined;
  let file: Blob;
  try {
    file = await openAsBlob(path); // read by PGlite when it loads, not copied here
  } catch (err) {
    throw new Error(`database.pgliteTemplate: cannot read ${path} (${(err as Error).message})`, { cause: err });
  }
  // PGlite tells a gzip'd tarball from a plain one by its type (its own .tgz dumps: application/x-gzip).
  const magic = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  return new Blob([file], { type: gzip ? 'application/x-gzip' : 'application/x-tar' });
}

/**
 * Writes a template for pgliteTemplate: a throw-away PGlite database opened and migrated exactly as
 * openDb does, its data folder dumped as an uncompressed tarball to `file` (written beside it, then
 * renamed, so a reader never sees half a template).
 */
export async function writePgliteTemplate(file: string, migrations: readonly Migration[]): Promise<void> {
  const db = await openDb({ pglitePath: 'memory://', migrations });
  try {
    if (!(db instanceof PgliteDb)) throw new Error('writePgliteTemplate: not a PGlite database');
    const partial = `${file}.partial-${process.pid}`;
    await writeFile(partial, await db.dumpDataDir());
    await rename(partial, file);
  } finally {
    await db.close();
  }
}
