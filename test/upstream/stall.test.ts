// The stall timer of a transfer (upstream/stall.ts): fails it after `ms` without progress,
// re-armed by every chunk, never while our own consumer is what holds the bytes up, never after
// clear(), and never because this process itself did not run while bytes were arriving. A
// caller's stop signal ends the transfer with its own reason, which is never taken for a stall.
// Fake timers where only the order of events matters; real sockets and a blocked thread for the
// event-loop case, since real time and the real loop are the point there (nothing is timed).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StallTimer } from '../../src/upstream/stall.js';

/** The timers StallTimer uses (setImmediate too: its second look), faked. */
const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });

/** Runs the timer's second look, which it queues with setImmediate when it fires (fake timers run such an immediate 1 ms later). */
const secondLook = () => vi.advanceTimersByTime(1);

describe('StallTimer, in the order of events (fake timers)', () => {
  afterEach(() => void vi.useRealTimers());

  it('fails the transfer after ms without progress, as a stall', () => {
    fakeTimers();
    const t = new StallTimer(1000);
    vi.advanceTimersByTime(999);
    expect(t.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1); // 1000 ms without a byte: it fires, and looks once more before it fails the transfer
    expect(t.signal.aborted).toBe(false);
    secondLook();
    expect(t.signal.aborted).toBe(true);
    expect(t.signal.reason).toMatchObject({ name: 'TimeoutError', message: 'no data for 1000 ms' });
    expect(t.stalled).toBe(true);
    expect(t.stopped).toBe(false);
  });

  it('is re-armed by every chunk: a transfer that keeps moving outlasts any number of timeouts', () => {
    fakeTimers();
    const t = new StallTimer(1000);
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(900);
      t.refresh();
    }
    expect(t.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1000);
    secondLook();
    expect(t.stalled).toBe(true);
  });

  it('does not fail a transfer whose chunk comes between the firing and its second look', () => {
    fakeTimers();
    const t = new StallTimer(1000);
    vi.advanceTimersByTime(1000);
    t.refresh(); // read in the poll phase that follows the timers phase
    secondLook();
    expect(t.signal.aborted).toBe(false);
    vi.advanceTimersByTime(999);
    expect(t.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    secondLook();
    expect(t.stalled).toBe(true);
  });

  it('waits while our own consumer holds the bytes up, and fails ms after it reads again', () => {
    fakeTimers();
    const t = new StallTimer(1000);
    let busy = true;
    t.busy = () => busy;
    vi.advanceTimersByTime(5000);
    expect(t.signal.aborted).toBe(false);
    busy = false;
    vi.advanceTimersByTime(999);
    expect(t.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    secondLook();
    expect(t.stalled).toBe(true);
  });

  it('never fires after clear()', () => {
    fakeTimers();
    const t = new StallTimer(1000);
    t.clear();
    vi.advanceTimersByTime(10_000);
    expect(t.signal.aborted).toBe(false);
  });

  it('ends the transfer with the stop signal’s reason, never as a stall, and then never fires', () => {
    fakeTimers();
    const stop = new AbortController();
    const t = new StallTimer(1000, stop.signal);
    vi.advanceTimersByTime(500);
    const why = new Error('the job lost its lock');
    stop.abort(why);
    expect(t.signal.aborted).toBe(true);
    expect(t.signal.reason).toBe(why);
    expect(t.stopped).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(t.stalled).toBe(false);
    expect(t.signal.reason).toBe(why);
  });

  it('is aborted at once by a stop signal that already aborted, and stops listening to it after clear()', () => {
    fakeTimers();
    const stopped = new StallTimer(1000, AbortSignal.abort(new Error('stop')));
    expect(stopped.stopped).toBe(true);
    const stop = new AbortController();
    const done = new StallTimer(1000, stop.signal);
    done.clear();
    stop.abort(new Error('too late'));
    expect(done.signal.aborted).toBe(false);
  });
});

describe('StallTimer on the real event loop', () => {
  /** A connected pair of local sockets: what the upstream writes, and where the transfer reads. */
  async function pair(): Promise<{ server: Server; upstream: Socket; reader: Socket }> {
    const server = createServer();
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const reader = connect((server.address() as { port: number }).port, '127.0.0.1');
    await new Promise<void>((r) => reader.once('connect', r));
    return { server, upstream: await accepted, reader };
  }

  /** Blocks this thread, as a busy machine that does not schedule the process would. */
  const blockThread = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

  it.each([
    ['a byte arrived while the process did not run: it is counted and the transfer goes on', true],
    ['no byte arrived: the transfer fails', false],
  ])('when its time ran out while the process was blocked, %s', async (_what, byteArrives) => {
    const { server, upstream, reader } = await pair();
    try {
      // From the check phase: the next turn of the loop starts with its timers, then its poll.
      await new Promise((r) => setImmediate(r));
      const t = new StallTimer(50);
      let fired!: () => void;
      const firedOnce = new Promise<void>((r) => (fired = r));
      t.busy = () => (fired(), false); // asked first thing when the timer fires
      reader.on('data', () => t.refresh());
      // Written into the reader's socket buffer at once; read only when the loop runs again, in
      // the poll phase, after the timers phase in which the stall timer is overdue.
      if (byteArrives) upstream.write('x');
      blockThread(300);
      await firedOnce;
      await new Promise((r) => setImmediate(r)); // after the timer's second look (queued when it fired)
      expect(t.signal.aborted).toBe(!byteArrives);
      expect(t.stalled).toBe(!byteArrives);
      t.clear();
    } finally {
      reader.destroy();
      upstream.destroy();
      server.close();
    }
  });
});
