// The stall timer of a transfer: fails it after a while without progress, but never while our own
// side (storage) is what keeps the bytes from moving, nor because this process itself did not run
// (a busy machine): bytes that arrived meanwhile are read in the event loop's poll phase, which
// comes after its timers, so the timer looks once more after that phase before it fails the
// transfer. Never fires after clear().
/**
 * A timer that aborts a transfer after `ms` without progress. Armed at once (so it covers
 * waiting for the answer's headers), re-armed by every chunk; while `busy()` says our own
 * consumer is not reading, it waits instead of firing.
 */
export class StallTimer {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private progress = 0;
  private cleared = false;
  busy: () => boolean = () => false;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.fire(), ms);
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
  }

  private fire(): void {
    if (this.busy()) return void this.timer.refresh();
    const seen = this.progress;
    setImmediate(() => {
      if (this.cleared || this.progress !== seen) return; // a chunk came (and re-armed the timer), or done
      if (this.busy()) this.timer.refresh();
      else this.controller.abort(new DOMException(`no data for ${this.ms} ms`, 'TimeoutError'));
    });
  }
}
