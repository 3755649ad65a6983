// Reloads of the in-memory read models (the PyPI, conda and OCI catalogs, the policy) that a
// NOTIFY or a reconnect asks for. A reload that fails (database down, a query refused) would
// leave a replica serving stale listings without a word: here it is logged, counted for
// /metrics, and retried with bounded exponential backoff until it succeeds or close() is called.
// One helper for every catalog so they behave alike (and unify easily).
// It must never drop a failed reload silently, and never keep a timer or retry after close().
import pino, { type Logger } from 'pino';

export type ReloadLog = Pick<Logger, 'warn' | 'info'>;

export interface ReloadOptions {
  /** First retry delay; doubled on each failure. */
  baseMs?: number;
  /** Longest delay between two retries. */
  maxMs?: number;
}

export interface ReloadRequest {
  /** Retry this failure? (default yes). A reload that cannot succeed until something else changes says no. */
  retryIf?: (err: unknown) => boolean;
}

export class CatalogReloads {
  private readonly failures = new Map<string, number>();
  private readonly pending = new Map<string, { catalog: string; timer: NodeJS.Timeout }>();
  private closed = false;
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(
    private readonly log: ReloadLog,
    opts: ReloadOptions = {},
  ) {
    this.baseMs = opts.baseMs ?? 250;
    this.maxMs = opts.maxMs ?? 30_000;
  }

  /** For a catalog used on its own (no runtime): logs to stderr, so stdout stays a command's output. */
  static standalone(): CatalogReloads {
    return new CatalogReloads(pino({ name: 'safelist' }, pino.destination({ dest: 2, sync: true })));
  }

  /**
   * Runs `fn` (the reload of `what` in `catalog`) now. A failure is logged and counted, and
   * the reload retried until it succeeds. While a retry of the same reload is scheduled, a new
   * request joins it (the retry reads the latest state anyway).
   */
  reload(catalog: string, what: string, fn: () => Promise<unknown>, req: ReloadRequest = {}): void {
    const key = `${catalog}\0${what}`;
    if (this.closed || this.pending.has(key)) return;
    void this.attempt(key, catalog, what, fn, req, 1);
  }

  private async attempt(
    key: string,
    catalog: string,
    what: string,
    fn: () => Promise<unknown>,
    req: ReloadRequest,
    n: number,
  ): Promise<void> {
    try {
      await fn();
      if (n > 1) this.log.info({ catalog, what, attempts: n }, 'catalog reload succeeded after failing');
    } catch (err) {
      if (this.closed) return; // the database is closing under it: not a failure to report
      this.failures.set(catalog, (this.failures.get(catalog) ?? 0) + 1);
      const retry = req.retryIf?.(err) ?? true;
      const delayMs = Math.min(this.baseMs * 2 ** (n - 1), this.maxMs);
      this.log.warn(
        { catalog, what, attempt: n, err, ...(retry ? { retryInMs: delayMs } : {}) },
        retry ? 'catalog reload failed; this replica may serve stale listings until a retry succeeds' : 'catalog reload failed',
      );
      if (!retry) return;
      const timer = setTimeout(() => {
        this.pending.delete(key);
        void this.attempt(key, catalog, what, fn, req, n + 1);
      }, delayMs);
      timer.unref(); // close() clears it; it must not hold the process either way
      this.pending.set(key, { catalog, timer });
    }
  }

  /** Failed reload attempts since start, by catalog (for /metrics). */
  failureCounts(): ReadonlyMap<string, number> {
    return this.failures;
  }

  /** Reloads waiting for a retry, by catalog: a replica with some is serving stale data. */
  pendingCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.pending.values()) out.set(p.catalog, (out.get(p.catalog) ?? 0) + 1);
    return out;
  }

  /** Stops retrying: pending retries are dropped, attempts in flight are not rescheduled. */
  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}
