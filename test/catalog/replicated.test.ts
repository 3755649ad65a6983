// The contract every ecosystem's catalog inherits from ReplicatedCatalog, on a tiny catalog over
// a table of its own, on both database modes: a write is reloaded once by its writer (its own
// notification skipped) and by every other instance through the notification, also when it is
// written in the catalog's own transaction (writeAndReload); listeners hear of it; a reload that
// fails is logged, counted and retried until it succeeds; after close() the catalog hears nothing
// more. Waits are bounded polls on outcomes, never on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_CHANNEL, publishCatalogChanges } from '../../src/catalog/changes.js';
import { CatalogReloads } from '../../src/catalog/reload.js';
import { ReplicatedCatalog, NAME_PAIR } from '../../src/catalog/replicated.js';
import type { Db, Queryable } from '../../src/state/db.js';
import { DB_MODES, databaseConfig } from '../support/databases.js';
import { until } from '../support/wait.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const ECOSYSTEM = 'contract';

/** Notes by (book, page): a two-part key, like conda's (channel, subdir). */
class NotesCatalog extends ReplicatedCatalog<[book: string, page: string]> {
  readonly notes = new Map<string, { text: string; serial: number }>();
  /** Reloads of one key that reached the database, by key name. */
  readonly reads = new Map<string, number>();

  constructor(db: Db, reloads?: CatalogReloads) {
    super(db, ECOSYSTEM, NAME_PAIR, reloads);
  }

  async reloadAll(): Promise<void> {
    for (const r of await this.db.query<{ book: string; page: string }>('SELECT book, page FROM contract_notes'))
      await this.reload(r.book, r.page);
  }

  protected async load(book: string, page: string): Promise<void> {
    const name = NAME_PAIR.name(book, page);
    this.reads.set(name, (this.reads.get(name) ?? 0) + 1);
    const row = (await this.db.query<{ text: string }>('SELECT text FROM contract_notes WHERE book = $1 AND page = $2', [book, page]))[0];
    if (row) this.notes.set(name, { text: row.text, serial: this.nextSerial() });
    else this.notes.delete(name);
    this.notifyListeners(book, page);
  }

  /** Writes in a caller's transaction: every instance, this one too, reloads on the notification at COMMIT. */
  async write(book: string, page: string, text: string, q: Queryable): Promise<void> {
    await q.query(
      'INSERT INTO contract_notes (book, page, text) VALUES ($1, $2, $3) ON CONFLICT (book, page) DO UPDATE SET text = EXCLUDED.text',
      [book, page, text],
    );
    await this.changed([NAME_PAIR.name(book, page)], q);
  }

  /** Writes in its own transaction that tells the others at COMMIT; holds the write when it returns. */
  async writeTx(book: string, page: string, text: string, fail?: Error): Promise<void> {
    await this.writeAndReload([NAME_PAIR.name(book, page)], async (q) => {
      await q.query(
        'INSERT INTO contract_notes (book, page, text) VALUES ($1, $2, $3) ON CONFLICT (book, page) DO UPDATE SET text = EXCLUDED.text',
        [book, page, text],
      );
      if (fail) throw fail;
    });
  }
}

const warnings: string[] = [];
const log = {
  warn: (_obj: object, msg: string) => void warnings.push(msg),
  info: () => undefined,
} as never;

describe.each(DB_MODES)('replicated catalog contract on %s', (mode) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  // One retrier per instance, as each replica has its own.
  let reloadsA: CatalogReloads;
  let reloadsB: CatalogReloads;
  let a: NotesCatalog;
  let b: NotesCatalog;
  const seen: string[] = [];
  let unlisten: () => Promise<void>;

  /** Notifications reach listeners in order: once a marker arrives, every earlier one was handled. */
  const drain = async (marker: string) => {
    await db.notify(CATALOG_CHANNEL, JSON.stringify({ ecosystem: 'none', name: marker }));
    await until(() => seen.some((s) => s.includes(marker)) || undefined, `the ${marker} notification`);
  };

  beforeAll(async () => {
    const cfg = await databaseConfig(mode);
    cleanup = cfg.cleanup;
    db = await openStateDb(cfg.database);
    await db.exec('CREATE TABLE contract_notes (book text, page text, text text NOT NULL, PRIMARY KEY (book, page))');
    await db.query("INSERT INTO contract_notes VALUES ('old', '1', 'there before open')");
    reloadsA = new CatalogReloads(log, { baseMs: 20, maxMs: 200 });
    reloadsB = new CatalogReloads(log, { baseMs: 20, maxMs: 200 });
    a = new NotesCatalog(db, reloadsA);
    b = new NotesCatalog(db, reloadsB);
    await a.open();
    await b.open();
    unlisten = await db.listen(CATALOG_CHANNEL, (payload) => seen.push(payload));
  });

  afterAll(async () => {
    await unlisten?.();
    await a?.close();
    await b?.close();
    reloadsA?.close();
    reloadsB?.close();
    await db?.close();
    await cleanup?.();
  });

  it('loads what is there at open', () => {
    expect(a.notes.get('old/1')?.text).toBe('there before open');
    expect(b.notes.get('old/1')?.text).toBe('there before open');
  });

  it('reloads a write once in the writer (its own notification skipped) and in every other instance, telling listeners', async () => {
    const heardA: string[] = [];
    const heardB: string[] = [];
    const stopA = a.onChange((book, page) => heardA.push(`${book}/${page}`));
    const stopB = b.onChange((book, page) => heardB.push(`${book}/${page}`));
    await drain('before-write');
    await a.writeTx('guide', 'intro', 'first');
    expect(a.notes.get('guide/intro')?.text).toBe('first'); // read-your-write, before any notification
    await until(() => b.notes.get('guide/intro'), 'the other instance to reload');
    await drain('after-write');
    stopA();
    stopB();
    expect(a.reads.get('guide/intro')).toBe(1);
    expect(b.reads.get('guide/intro')).toBe(1);
    expect(heardA).toEqual(['guide/intro']);
    expect(heardB).toEqual(['guide/intro']);
    expect(b.notes.get('guide/intro')!.text).toBe('first');
  });

  it("reloads in every instance, the writer too, a write made in a caller's transaction, and only once it commits", async () => {
    await drain('before-tx');
    const before = { a: a.reads.get('guide/tx') ?? 0, b: b.reads.get('guide/tx') ?? 0 };
    await expect(
      db.tx(async (q) => {
        await a.write('guide', 'tx', 'rolled back', q);
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    await db.tx((q) => a.write('guide', 'tx', 'committed', q));
    await until(() => a.notes.get('guide/tx') && b.notes.get('guide/tx'), 'both instances to reload the committed write');
    await drain('after-tx');
    expect(a.reads.get('guide/tx')! - before.a).toBe(1);
    expect(b.reads.get('guide/tx')! - before.b).toBe(1);
    expect(a.notes.get('guide/tx')!.text).toBe('committed');
  });

  it('reads its own transaction once, at return (its notification skipped), and every other instance reloads on it', async () => {
    await drain('before-write-tx');
    const before = { a: a.reads.get('guide/own-tx') ?? 0, b: b.reads.get('guide/own-tx') ?? 0 };
    await expect(a.writeTx('guide', 'own-tx', 'rolled back', new Error('refused'))).rejects.toThrow('refused');
    await a.writeTx('guide', 'own-tx', 'committed');
    expect(a.notes.get('guide/own-tx')?.text).toBe('committed'); // read-your-write, before any notification
    await until(() => b.notes.get('guide/own-tx'), 'the other instance to reload');
    await drain('after-write-tx');
    expect(a.reads.get('guide/own-tx')! - before.a).toBe(1);
    expect(b.reads.get('guide/own-tx')! - before.b).toBe(1);
    expect(b.notes.get('guide/own-tx')!.text).toBe('committed');
  });

  it('counts, logs and retries a reload that fails, until it succeeds', async () => {
    await drain('before-failure');
    const failuresBefore = [reloadsA, reloadsB].map((r) => r.failureCounts().get(ECOSYSTEM) ?? 0);
    warnings.length = 0;
    await db.query("INSERT INTO contract_notes VALUES ('guide', 'down', 'written while the table was away')");
    await db.exec('ALTER TABLE contract_notes RENAME TO contract_notes_away');
    // Another writer's notification (no origin): every instance reloads, and the read fails.
    await publishCatalogChanges(db, ECOSYSTEM, ['guide/down']);
    const waiting = () => [reloadsA, reloadsB].every((r) => r.pendingCounts().get(ECOSYSTEM) === 1);
    await until(() => waiting() || undefined, 'both failed reloads to wait for a retry');
    [reloadsA, reloadsB].forEach((r, i) => expect(r.failureCounts().get(ECOSYSTEM)! - failuresBefore[i]!).toBeGreaterThanOrEqual(1));
    expect(warnings.some((w) => /stale listings until a retry succeeds/.test(w))).toBe(true);
    expect(a.notes.get('guide/down')).toBeUndefined();
    await db.exec('ALTER TABLE contract_notes_away RENAME TO contract_notes');
    await until(() => a.notes.get('guide/down') && b.notes.get('guide/down'), 'the retries to succeed');
    const settled = () => [reloadsA, reloadsB].every((r) => !r.pendingCounts().has(ECOSYSTEM));
    await until(() => settled() || undefined, 'no retry left waiting');
    expect(a.notes.get('guide/down')!.text).toBe('written while the table was away');
  });

  it('ignores notifications of other ecosystems and names that are no key of it', async () => {
    const readsBefore = [...a.reads.values()].reduce((s, n) => s + n, 0);
    await publishCatalogChanges(db, 'pypi', ['guide/intro']);
    await publishCatalogChanges(db, ECOSYSTEM, ['no-slash']);
    await drain('after-foreign');
    expect([...a.reads.values()].reduce((s, n) => s + n, 0)).toBe(readsBefore);
  });

  it('hears nothing after close', async () => {
    await a.close();
    await drain('after-close');
    const readsBefore = a.reads.get('guide/intro');
    const serialBefore = a.notes.get('guide/intro')!.serial;
    await b.writeTx('guide', 'intro', 'second');
    await drain('after-second-write');
    expect(a.reads.get('guide/intro')).toBe(readsBefore);
    expect(a.notes.get('guide/intro')).toEqual({ text: 'first', serial: serialBefore });
    expect(b.notes.get('guide/intro')!.text).toBe('second');
  });
});
