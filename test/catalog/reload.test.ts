// The shared reload retrier on its own, on vitest's fake clock (no waiting, no timing): a failed
// reload is counted and retried with doubling delays up to the bound, a success ends it,
// requests for a reload already waiting join it, a refused one is not retried, and close()
// stops every retry.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CatalogReloads } from '../../src/catalog/reload.js';

const logged: Array<{ msg: string; retryInMs?: number }> = [];
const log = {
  warn: (obj: object, msg: string) => void logged.push({ msg, ...(obj as { retryInMs?: number }) }),
  info: (_obj: object, msg: string) => void logged.push({ msg }),
} as never;

/** A reload that fails `failures` times, then succeeds. */
function flaky(failures: number) {
  const calls = { n: 0 };
  const fn = async () => {
    calls.n++;
    if (calls.n <= failures) throw new Error(`database down (${calls.n})`);
  };
  return { fn, calls };
}

describe('CatalogReloads', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    logged.length = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries a failed reload with doubling, bounded delays until it succeeds, counting each failure', async () => {
    const reloads = new CatalogReloads(log, { baseMs: 100, maxMs: 400 });
    const { fn, calls } = flaky(4);
    reloads.reload('pypi', 'demo', fn);
    await vi.runAllTimersAsync();
    expect(calls.n).toBe(5);
    expect(reloads.failureCounts().get('pypi')).toBe(4);
    expect(logged.filter((l) => l.retryInMs !== undefined).map((l) => l.retryInMs)).toEqual([100, 200, 400, 400]);
    expect(logged.at(-1)!.msg).toMatch(/succeeded after failing/);
    expect(reloads.pendingCounts().size).toBe(0);
  });

  it('joins a request to the retry already waiting for the same reload', async () => {
    const reloads = new CatalogReloads(log, { baseMs: 100 });
    const { fn, calls } = flaky(1);
    reloads.reload('conda', 'main/noarch', fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(reloads.pendingCounts().get('conda')).toBe(1);
    reloads.reload('conda', 'main/noarch', fn);
    await vi.runAllTimersAsync();
    expect(calls.n).toBe(2);
  });

  it('does not retry what the caller says cannot succeed by retrying, but still counts and logs it', async () => {
    const reloads = new CatalogReloads(log);
    const { fn, calls } = flaky(10);
    reloads.reload('policy', '*', fn, { retryIf: () => false });
    await vi.runAllTimersAsync();
    expect(calls.n).toBe(1);
    expect(reloads.failureCounts().get('policy')).toBe(1);
    expect(logged.map((l) => l.msg)).toEqual(['catalog reload failed']);
  });

  it('stops retrying on close', async () => {
    const reloads = new CatalogReloads(log, { baseMs: 100 });
    const { fn, calls } = flaky(Infinity);
    reloads.reload('oci', 'mcr/app', fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.n).toBe(1);
    reloads.close();
    expect(reloads.pendingCounts().size).toBe(0);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(calls.n).toBe(1);
    reloads.reload('oci', 'mcr/app', fn);
    expect(calls.n).toBe(1);
  });
});
