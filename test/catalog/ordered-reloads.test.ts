// OrderedReloads: the reloads of one key run one at a time, in order; a call made while one waits
// to start joins it, a call made while one reads gets the next; a failure goes to its callers only;
// other keys are not held up. Loads here are promises the test settles itself: no timing.
import { describe, expect, it } from 'vitest';
import { OrderedReloads } from '../../src/catalog/ordered-reloads.js';

/** A load the test ends by hand, recording when it started. */
function manual(log: string[], name: string) {
  let end!: (err?: Error) => void;
  const load = () => {
    log.push(`start ${name}`);
    return new Promise<void>((resolve, reject) => (end = (err) => (err ? reject(err) : resolve())));
  };
  return { load, end: (err?: Error) => end(err) };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ordered reloads of one key', () => {
  it('starts a reload of a key only once the one before it ended, and joins calls made before it starts', async () => {
    const ordered = new OrderedReloads();
    const log: string[] = [];
    const first = manual(log, 'first');
    const second = manual(log, 'second');
    const p1 = ordered.run('k', first.load);
    await turn();
    const p2 = ordered.run('k', second.load);
    // Made while the second waits to start: it joins (the second has not read yet).
    const p3 = ordered.run('k', () => Promise.reject(new Error('never started')));
    expect(p3).toBe(p2);
    await turn();
    expect(log).toEqual(['start first']);
    first.end();
    await p1;
    await turn();
    expect(log).toEqual(['start first', 'start second']);
    // Made while the second reads: it gets a reload of its own, after the second.
    const third = manual(log, 'third');
    const p4 = ordered.run('k', third.load);
    second.end();
    await p2;
    await turn();
    expect(log.at(-1)).toBe('start third');
    third.end();
    await p4;
  });

  it("gives a reload's failure to its own callers, and still runs the next", async () => {
    const ordered = new OrderedReloads();
    const log: string[] = [];
    const failing = manual(log, 'failing');
    const next = manual(log, 'next');
    const p1 = ordered.run('k', failing.load);
    await turn();
    const p2 = ordered.run('k', next.load);
    failing.end(new Error('database away'));
    await expect(p1).rejects.toThrow('database away');
    await turn();
    next.end();
    await expect(p2).resolves.toBeUndefined();
    expect(log).toEqual(['start failing', 'start next']);
  });

  it('runs reloads of different keys side by side', async () => {
    const ordered = new OrderedReloads();
    const log: string[] = [];
    const a = manual(log, 'a');
    const b = manual(log, 'b');
    const pa = ordered.run('a', a.load);
    const pb = ordered.run('b', b.load);
    await turn();
    expect(log.sort()).toEqual(['start a', 'start b']);
    b.end();
    a.end();
    await Promise.all([pa, pb]);
  });
});
