// Anchors the audit chain's head soon after each decision (an exception approved, rejected or
// revoked; a gate verdict) and once more at shutdown, so the records that matter most are not
// left unanchored until the next scheduled anchor. Requests are coalesced: one anchor covers a
// burst (it reads the head when it runs), runs never overlap in this process, and across
// replicas they go under the 'audit:anchor' lock. It must never drop a request: when the lock
// is busy (another replica is anchoring, perhaps a head older than ours) it tries again later;
// when the anchor store fails it logs the error and tries again with backoff.
import type { Logger } from 'pino';
import type { Db } from '../state/db.js';
import type { AuditLog } from './log.js';

export const ANCHOR_LOCK = 'audit:anchor';

export interface AnchorSchedulerDeps {
  db: Pick<Db, 'tryWithLock'>;
  audit: Pick<AuditLog, 'anchor'>;
  log: Pick<Logger, 'warn' | 'error'>;
  /** How long a request waits for others to join it (default 200 ms). */
  delayMs?: number;
  /** First wait after a busy lock or a failure; doubles up to 60 s (default 1 s). */
  retryMs?: number;
}

type Outcome = 'anchored' | 'busy' | 'failed';

export class AnchorScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Outcome> | undefined;
  private pending = false;
  private failures = 0;
  private closed = false;

  constructor(private readonly deps: AnchorSchedulerDeps) {}

  /** Asks for an anchor of the head as it will be shortly; returns at once. */
  soon(): void {
    this.pending = true;
    if (!this.timer && !this.running) this.arm(this.deps.delayMs ?? 200);
  }

  /**
   * Anchors the head now (after a run in progress) and resolves when it is done, true when
   * anchored; for shutdown, so bounded by `withinMs` (a store that hangs must not hold the
   * process). A busy lock is tried again meanwhile; a failure or the bound is logged. Nothing
   * is scheduled after it.
   */
  async flush(withinMs = 5_000): Promise<boolean> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    let bound: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (bound = setTimeout(() => r('late'), withinMs)));
    const outcome = await Promise.race([this.flushNow(() => bound === undefined), late]);
    clearTimeout(bound);
    bound = undefined;
    if (outcome === 'late')
      this.deps.log.warn(`audit anchor at shutdown did not finish within ${withinMs} ms; the tail since the last anchor is not anchored`);
    else if (outcome === 'busy')
      this.deps.log.warn('audit anchor at shutdown: the audit:anchor lock stayed busy (another replica is anchoring)');
    return outcome === 'anchored';
  }

  private async flushNow(givenUp: () => boolean): Promise<Outcome> {
    await this.running;
    for (;;) {
      const outcome = await this.run();
      if (outcome !== 'busy' || givenUp()) return outcome;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private arm(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run().then((outcome) => {
        // Busy or failed: the request stands, tried again with backoff; asked again while it ran: once more.
        if (outcome !== 'anchored') this.arm(Math.min((this.deps.retryMs ?? 1_000) * 2 ** Math.max(0, this.failures - 1), 60_000));
        else if (this.pending && !this.timer) this.arm(this.deps.delayMs ?? 200);
      });
    }, ms);
    this.timer.unref();
  }

  /** One anchor of the current head under the lock (audit.anchor() skips a head already anchored). */
  private run(): Promise<Outcome> {
    this.pending = false;
    const run = this.deps.db
      .tryWithLock(ANCHOR_LOCK, async () => ({ anchor: await this.deps.audit.anchor() }))
      .then((r): Outcome => {
        if (r) {
          this.failures = 0;
          return 'anchored';
        }
        this.failures++;
        return 'busy';
      })
      .catch((err: unknown): Outcome => {
        this.failures++;
        this.deps.log.error({ err, attempt: this.failures }, 'audit anchor failed; trying again');
        return 'failed';
      })
      .finally(() => {
        this.running = undefined;
      });
    this.running = run;
    return run;
  }
}
