// A Db in front of a real one (PGlite or PostgreSQL) that can hold, until the test releases them,
// the statements of db.query that match a pattern (before they are sent, or after their answer
// came back and before the caller gets it) and the notifications its listeners would receive.
// It puts a replica's catalog reload in a known place relative to another replica's commits,
// the way a loaded machine or a slow network may, without sleeping or timing tricks.
// Statements inside a transaction (db.tx) are held like the others, so a read in one snapshot
// (readSnapshot) can be held between its pages; a test holds reads only (a held write would keep
// its locks), and on PGlite, whose one connection a transaction keeps, holds none inside one (every
// other statement would wait for it). It never invents an answer.
import type { Db, Queryable } from '../../src/state/db.js';

export interface HeldDb extends Db {
  /** Holds db.query statements matching `match`, from now on, before they are sent (`before`) or once answered (`after`). */
  hold(match: RegExp, when: 'before' | 'after'): void;
  /** Stops holding statements (those held stay held until release). */
  stopHolding(): void;
  /** Holds every notification its listeners would receive, in order, until release. */
  holdNotifications(): void;
  /** Lets the held notifications go, in order, and stops holding them (statements stay as they are). */
  releaseNotifications(): void;
  /** Lets every held statement and notification go, in the order they were held, and stops holding. */
  release(): void;
  /** Statements held now. */
  readonly held: number;
  /** Statements sent and not answered yet (held ones not counted). */
  readonly running: number;
}

export function heldDb(db: Db): HeldDb {
  let match: { re: RegExp; when: 'before' | 'after' } | undefined;
  let holdingNotifications = false;
  let waiting: Array<() => void> = [];
  let notifications: Array<() => void> = [];
  let running = 0;

  const wait = () => new Promise<void>((resolve) => waiting.push(resolve));
  /** db.query, or a transaction's query, held where a test asked. */
  const holding =
    (q: Queryable) =>
    async <T>(sql: string, params?: unknown[]): Promise<T[]> => {
      const when = match?.re.test(sql) ? match.when : undefined;
      if (when === 'before') await wait();
      running++;
      let rows: T[];
      try {
        rows = await q.query<T>(sql, params);
      } finally {
        running--;
      }
      if (when === 'after') await wait();
      return rows;
    };
  const query = holding(db);

  const held: HeldDb = {
    kind: db.kind,
    query,
    exec: (sql) => db.exec(sql),
    tx: <T>(fn: (q: Queryable) => Promise<T>) => db.tx((q) => fn({ query: holding(q), exec: (sql) => q.exec(sql) })),
    listen: (channel, onPayload) =>
      db.listen(channel, (payload) => {
        if (holdingNotifications) notifications.push(() => onPayload(payload));
        else onPayload(payload);
      }),
    notify: (channel, payload) => db.notify(channel, payload),
    onReconnect: (fn) => db.onReconnect(fn),
    tryWithLock: (name, fn) => db.tryWithLock(name, fn),
    close: () => db.close(),
    hold(re, when) {
      match = { re, when };
    },
    stopHolding() {
      match = undefined;
    },
    holdNotifications() {
      holdingNotifications = true;
    },
    releaseNotifications() {
      holdingNotifications = false;
      const go = notifications;
      notifications = [];
      for (const fn of go) fn();
    },
    release() {
      match = undefined;
      holdingNotifications = false;
      const go = [...waiting, ...notifications];
      waiting = [];
      notifications = [];
      for (const fn of go) fn();
    },
    get held() {
      return waiting.length;
    },
    get running() {
      return running;
    },
  };
  return held;
}
