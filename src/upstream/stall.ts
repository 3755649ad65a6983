// The stall timer of a transfer: fails it after a while without progress, but never while our own
// side (storage) is what keeps the bytes from moving, nor because this process itself did not run
// (a busy machine): bytes that arrived meanwhile are read in the event loop's poll phase, which
// comes after its timers, so the timer looks once more after that phase before it fails the
// transfer. Never fires after clear(). A caller's `stop` signal (the job lost its lock) ends
// the transfer too, with that signal's reason, and is never taken for a stall.
/**
 * A timer that aborts a transfer after `ms` without progress. Armed at once (so it covers
 * waiting for the answer's headers), re-armed by every chunk; while `busy()` says our own
 * consumer is not reading, it waits instead of firing. When `stop` aborts first, its signal
 * aborts with stop's reason (and `stalled` stays false).
 */
export class StallTimer {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private progress = 0;
  private cleared = false;
  /** True once it aborted the transfer for want of progress (not because `stop` aborted). */
  stalled = false;
  busy: () => boolean = () => false;
  private readonly onStop: (() => void) | undefined;

  constructor(
    readonly ms: number,
    private readonly stop?: AbortSignal,
  ) {
    this.timer = setTimeout(() => this.fire(), ms);
    if (!stop) return;
    this.onStop = () => {
      this.clear();
      this.controller.abort(stop.reason);
    };
    if (stop.aborted) this.onStop();
    else stop.addEventListener('abort', this.onStop, { once: true });
  }

  /** Did the caller's stop signal end the transfer? */
  get stopped(): boolean {
    return this.controller.signal.aborted && !this.stalled;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  refresh(): void {
    this.progress++;
    this.timer.refresh();
  }

  clear(): void {
    this.cleared = true;
    clearTimeout(this.timer);
    if (this.onStop) this.stop!.removeEventListener('abort', this.onStop);
  }

  private fire(): void {
    if (this.busy()) return void this.timer.refresh();
    const seen = this.progress;
    setImmediate(() => {
      if (this.cleared || this.progress !== seen) return; // a chunk came (and re-armed the timer), or done
      if (this.busy()) this.timer.refresh();
      else {
        this.stalled = true;
        this.controller.abort(new DOMException(`no data for ${this.ms} ms`, 'TimeoutError'));
      }
    });
  }
}
