// The replicated in-memory catalog every ecosystem's read model is built on: PostgreSQL is the
// truth, each process keeps a copy, and a change is published on CATALOG_CHANNEL so that every
// other instance (in this process or another replica) reloads the key it names. Written once here
// so the PyPI, conda and OCI catalogs listen, skip their own notifications, number their versions
// (serial) and tell their listeners alike. Reloads of one key run one after another
// (OrderedReloads): an entry only ever moves forward, and a writer reads its own write when its
// write returns. It listens before its full read, so a write committed meanwhile is not missed.
// It must never drop a failed reload silently (CatalogReloads logs, counts and retries it), and
// never skip a notification it did not reload itself. Every write publishes its change in its own
// transaction (delivered at COMMIT): none is told after its commit, where a crash would lose it.
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../state/db.js';
import { CATALOG_CHANNEL, parseCatalogChange, publishCatalogChanges } from './changes.js';
import { OrderedReloads } from './ordered-reloads.js';
import { CatalogReloads } from './reload.js';

/** The full reload's place in OrderedReloads (no key's notification name holds a NUL). */
const EVERYTHING = '\0everything';

/** How a key maps to a notification's name and back (parse: undefined for a name no key has). */
export interface KeyNames<K extends unknown[]> {
  name(...key: K): string;
  parse(name: string): K | undefined;
}

/** A key that is one name (a project, an image): the notification names it as it is. */
export const SINGLE_NAME: KeyNames<[string]> = { name: (n) => n, parse: (n) => [n] };

/** A key of two names (a conda channel and subdir): `first/second`, split at the first slash. */
export const NAME_PAIR: KeyNames<[string, string]> = {
  name: (first, second) => `${first}/${second}`,
  parse(name) {
    const slash = name.indexOf('/');
    return slash > 0 ? [name.slice(0, slash), name.slice(slash + 1)] : undefined;
  },
};

/**
 * K: the key one reload and one notification is about, as the arguments the subclass's methods
 * take ([project], [channel, subdir], [image name]); `keys` maps it to the notification's name
 * and back.
 */
export abstract class ReplicatedCatalog<K extends unknown[]> {
  /** Tags this instance's notifications (see CatalogChange.origin). */
  protected readonly origin = randomUUID();
  private serialCounter = 0;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly listeners = new Set<(...key: K) => void>();
  /** Retries reloads that fail after a notification (shared by the runtime's catalogs). */
  protected readonly reloads: CatalogReloads;
  private readonly ownsReloads: boolean;
  private readonly ordered = new OrderedReloads();
  /** While a full reload runs: the keys notified meanwhile, reloaded once it ends. */
  private notifiedDuringFullReload: Set<string> | undefined;

  constructor(
    protected readonly db: Db,
    /** The ecosystem its notifications carry. */
    readonly ecosystem: string,
    private readonly keys: KeyNames<K>,
    reloads?: CatalogReloads,
  ) {
    this.reloads = reloads ?? CatalogReloads.standalone();
    this.ownsReloads = !reloads;
  }

  /** Reads everything again (at open, and after notifications may have been missed). */
  abstract reloadAll(): Promise<void>;

  /**
   * Reads one key's entry from the database and installs it (or removes it). Where parts of an
   * entry point at each other (an OCI tag at its manifest), they are read in one statement (one
   * snapshot): separate statements may each see a different commit. Called only through reload(),
   * one at a time per key.
   */
  protected abstract load(...key: K): Promise<void>;

  /**
   * Re-reads one key (after a local write or a notification). Resolves once the entry reflects
   * at least everything committed before the call; reloads of one key never overlap, so an older
   * read never replaces a newer one.
   */
  reload(...key: K): Promise<void> {
    return this.ordered.run(this.keys.name(...key), () => this.load(...key));
  }

  /**
   * Subscribes to changes made by other instances, then loads everything: listening first, a write
   * committed while the full read runs is reloaded after it instead of missed.
   */
  async open(): Promise<void> {
    this.unlisten = await this.db.listen(CATALOG_CHANNEL, (payload) => this.heard(payload));
    try {
      await this.reloadEverything();
    } catch (err) {
      await this.unlisten();
      this.unlisten = undefined;
      throw err;
    }
  }

  /** Asks for a full reload through the retrier (after a reconnect): a failure is logged, counted, retried. */
  reloadAllLater(): void {
    this.reloads.reload(this.ecosystem, '*', () => this.reloadEverything());
  }

  private heard(payload: string): void {
    const change = parseCatalogChange(payload);
    // Its own change was reloaded by its writer after the commit: a second read of the key is waste.
    if (change?.ecosystem !== this.ecosystem || change.origin === this.origin || !this.keys.parse(change.name)) return;
    if (this.notifiedDuringFullReload) this.notifiedDuringFullReload.add(change.name);
    else this.reloadLater(change.name);
  }

  /** Reloads a key through the retrier (a failure is logged, counted, retried). */
  private reloadLater(name: string): void {
    const key = this.keys.parse(name);
    if (key) this.reloads.reload(this.ecosystem, name, () => this.reload(...key));
  }

  /**
   * reloadAll, one at a time. A key notified while it runs is reloaded after it: a full read may
   * install an entry it read before that key's commit, after the key's own reload installed it.
   */
  private reloadEverything(): Promise<void> {
    return this.ordered.run(EVERYTHING, async () => {
      const notified = (this.notifiedDuringFullReload = new Set());
      try {
        await this.reloadAll();
      } finally {
        this.notifiedDuringFullReload = undefined;
        for (const name of notified) this.reloadLater(name);
      }
    });
  }

  async close(): Promise<void> {
    if (this.ownsReloads) this.reloads.close();
    await this.unlisten?.();
  }

  /** Called with the key whenever its entry changes (cache invalidation). */
  onChange(fn: (...key: K) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The next version number, for a key's entry installed now; part of rendered documents' identity. */
  protected nextSerial(): number {
    return ++this.serialCounter;
  }

  /** Tells the listeners that a key's entry changed. */
  protected notifyListeners(...key: K): void {
    for (const fn of this.listeners) fn(...key);
  }

  /**
   * Publishes, inside a caller's transaction `q`, that these keys (by notification name) changed:
   * the notification goes out at COMMIT (atomically with the write, dropped on ROLLBACK),
   * untagged, and this instance reloads on it like every other (no read-your-write: a writer that
   * needs it uses writeAndReload). Never on the catalog's own connection after a commit: a crash
   * between the commit and the notification would leave every other replica stale.
   */
  protected async changed(names: Iterable<string>, q: Queryable): Promise<void> {
    if (q === this.db) throw new Error(`${this.ecosystem} catalog: changed() publishes inside a transaction; write with writeAndReload`);
    const list = [...names];
    if (list.length) await publishCatalogChanges(q, this.ecosystem, list);
  }

  /**
   * Runs `write` in one transaction that also publishes the change of `names` (delivered at
   * COMMIT, atomically with the write), tagged with this instance's origin; then reloads them
   * here. So every other instance reloads on the notification, and this one reads its own write
   * before this returns instead of a second time on its own notification.
   */
  protected async writeAndReload<T>(names: Iterable<string>, write: (q: Queryable) => Promise<T>): Promise<T> {
    const list = [...names];
    const out = await this.db.tx(async (q) => {
      const result = await write(q);
      if (list.length) await publishCatalogChanges(q, this.ecosystem, list, this.origin);
      return result;
    });
    await this.reloadOwn(list);
    return out;
  }

  /**
   * Reloads keys this instance wrote (their notification names). Its own notification will be
   * skipped, so a reload that fails is also handed to the retrier (logged, counted, retried)
   * before the failure goes to the writer.
   */
  private async reloadOwn(names: readonly string[]): Promise<void> {
    let failure: { err: unknown } | undefined;
    for (const name of names) {
      const key = this.keys.parse(name);
      if (!key) throw new Error(`${this.ecosystem} catalog: '${name}' names no key of this catalog`);
      // A full reload running now may install what it read before this write: read the key again after it.
      this.notifiedDuringFullReload?.add(name);
      try {
        await this.reload(...key);
      } catch (err) {
        this.reloads.reload(this.ecosystem, name, () => this.reload(...key));
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}
