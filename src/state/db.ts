// The state store: PostgreSQL through one small interface, either a server (`pg`, via
// DATABASE_URL) or PGlite in-process (the embedded default). Migrations run at open.
// Notifications (LISTEN/NOTIFY) carry catalog and policy changes between replicas.
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { migrations } from './migrations.js';
import { acquireFolderLock, type FolderLock } from './folder-lock.js';

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
   * when someone else holds it. The lock is released when fn settles or the session dies.
   */
  tryWithLock<T>(name: string, fn: () => Promise<T>): Promise<T | undefined>;
  /** The PGlite folder's ownership (folder-lock.ts); absent for PostgreSQL and memory://. */
  readonly folderLock?: FolderLock;
  close(): Promise<void>;
}

/** A stable 64-bit advisory lock key for a lock name. */
function lockKey(name: string): string {
  return BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 16)}`)).toString();
}

const CHANNEL = /^[a-z_]+$/;

class PgDb implements Db {
  readonly kind = 'pg' as const;
  private listener: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(p: string) => void>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    const r = await this.pool.query(sql, params as unknown[]);
    return r.rows as T[];
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
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
    const c = new pg.Client({ connectionString: this.url });
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

  async tryWithLock<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    // A session lock on a dedicated connection: held while fn runs, freed if this process dies.
    const client = await this.pool.connect();
    const key = lockKey(name);
    let broken: Error | undefined;
    try {
      const [row] = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key])).rows;
      if (!row?.ok) return undefined;
      try {
        return await fn();
      } finally {
        // If the unlock fails, the session must end (release(err) destroys the connection):
        // back in the pool it would hold the lock for ever.
        broken = await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).then(
          () => undefined,
          (e: Error) => e,
        );
      }
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // Safe: closing; a listener connection that fails to end cleanly is gone either way.
    await this.listener?.end().catch(() => undefined);
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

  async tryWithLock<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    // PGlite is one process with one connection: an in-process lock is the whole story.
    if (this.held.has(name)) return undefined;
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
    }
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
  /** PostgreSQL settings for PGlite (config database.pgliteSettings), e.g. { shared_buffers: '16MB' }. */
  pgliteSettings?: Record<string, string>;
  /** Who opens a PGlite folder (named to whoever finds it held), e.g. "safelist serve". */
  holder?: string;
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    // Surface connection errors as rejected queries, not as an unhandled 'error' event.
    pool.on('error', () => undefined);
    db = new PgDb(pool, opts.url);
  } else if (opts.pglitePath === 'memory://') {
    db = new PgliteDb(new PGlite(pgliteOptions(opts.pgliteSettings)));
  } else {
    mkdirSync(opts.pglitePath, { recursive: true });
    // One process per folder: two PGlite instances on one folder silently lose writes.
    const lock = acquireFolderLock(opts.pglitePath, opts.holder ?? `safelist (pid ${process.pid})`);
    try {
      db = new PgliteDb(new PGlite(opts.pglitePath, pgliteOptions(opts.pgliteSettings)), lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined); // the migration error is the one to report
    throw err;
  }
  return db;
}

/** PGlite's own start parameters plus one `-c name=value` per setting (later ones win). */
function pgliteOptions(settings: Record<string, string> = {}): { startParams: string[] } {
  return { startParams: [...PGlite.defaultStartParams, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])] };
}

/** Applies pending migrations in order, under an advisory lock so replicas do not race. */
export async function migrate(db: Db): Promise<void> {
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
