// The compacting collection after the catalogs' initial load: asked of V8 once, with the
// last-resort flavour (the one that compacts half-empty pages), only when the process has `gc`;
// and the CLI's own Node.js flags do give it `gc`, so `safelist serve` compacts for real.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPACTING_GC, compactHeapAfterLoad, type ExposedGc } from '../../src/catalog/compact-heap.js';
import { ROOT } from '../support/cli.js';

describe('compactHeapAfterLoad', () => {
  it('runs one last-resort major collection, synchronously, when gc is exposed', () => {
    const calls: unknown[] = [];
    const gc: ExposedGc = (o) => void calls.push(o);
    expect(compactHeapAfterLoad(gc)).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
    expect(COMPACTING_GC.flavor).toBe('last-resort');
  });

  it('does nothing in a process started without --expose-gc', () => {
    expect(compactHeapAfterLoad(undefined)).toBeUndefined();
  });

  it("has gc under the CLI's own Node.js flags, and V8 accepts the options it passes", () => {
    const firstLine = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n', 1)[0]!;
    const flags = /^#!\/usr\/bin\/env -S node (.+)$/.exec(firstLine)?.[1]?.trim().split(/\s+/) ?? [];
    const script = `const a = []; for (let i = 0; i < 1e5; i++) a.push({ i }); gc(${JSON.stringify(COMPACTING_GC)}); process.stdout.write(typeof gc)`;
    const run = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('function');
  });
});
