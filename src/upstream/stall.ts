// The stall timer of a transfer: fails it after a while without progress, but never while our own
// side (storage) is what keeps the bytes from moving. Never fires after clear().
/**
 * A timer that aborts a transfer after `ms` without progress. Armed at once (so it covers
 * waiting for the answer's headers), re-armed by every chunk; while `busy()` says our own
 * consumer is not reading, it waits instead of firing.
 */
export class StallTimer {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  busy: () => boolean = () => false;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.fire(), ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  refresh(): void {
    this.timer.refresh();
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private fire(): void {
    if (this.busy()) this.timer.refresh();
    else this.controller.abort(new DOMException(`no data for ${this.ms} ms`, 'TimeoutError'));
  }
}
