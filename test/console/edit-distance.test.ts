// The edit distance behind catalog search's close matches and triage's similar names: the
// rolling-row version with its early stop gives what the textbook full-matrix optimal string
// alignment gives, up to the bound (fast-check over short strings of a small alphabet, where
// transpositions and near-misses are common).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editDistance } from '../../src/exceptions/triage.js';

/** Optimal string alignment distance, the whole matrix, no early stop. */
function reference(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

describe('editDistance', () => {
  it('equals the full optimal string alignment distance up to max, and says "above max" beyond it', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '-'), maxLength: 9 });
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 4 }), (a, b, max) => {
        const want = reference(a, b);
        const got = editDistance(a, b, max);
        if (want <= max) expect(got).toBe(want);
        else expect(got).toBeGreaterThan(max);
      }),
      { numRuns: 5000 },
    );
  });

  it('counts a transposition as one edit', () => {
    expect(editDistance('demo-pgk', 'demo-pkg', 2)).toBe(1);
    expect(editDistance('reqeusts', 'requests', 2)).toBe(1);
  });
});
