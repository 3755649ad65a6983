// src/tick-shape.ts keeps one process.nextTick object alive so that full collections with no tick
// queued (start-up, idle) do not clear the maps that nextTick's object literal transitions
// through, which leaves its inline cache megamorphic for good (bench/README.md, "hot path"). The
// check runs in a child Node.js with V8's test intrinsics: after such collections, a new tick
// object must still have the held object's map. The entry points must import it before anything
// else, since a cache that went megamorphic never comes back.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

/** Runs `body` as an ES module in a child Node.js with gc() and %-intrinsics; returns its stdout. */
function inChild(body: string): string {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', '--allow-natives-syntax', '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', body],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

const child = `
  import { createHook } from 'node:async_hooks';
  const held = (await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/tick-shape.ts')).href)})).heldTickObjects;
  const noop = () => {};
  const turn = () => new Promise((r) => setImmediate(r));
  // Ticks enough for nextTick's feedback to settle, then full collections with none queued.
  for (let i = 0; i < 200; i++) { process.nextTick(noop); await turn(); }
  for (let i = 0; i < 3; i++) { await turn(); globalThis.gc(); }
  let fresh;
  const hook = createHook({ init(_id, type, _t, resource) { if (type === 'TickObject') fresh ??= resource; } }).enable();
  process.nextTick(noop);
  hook.disable();
  process.stdout.write(held.length === 1 && fresh ? String(%HaveSameMap(held[0], fresh)) : 'nothing held');
`;

describe('tick-shape', () => {
  it('keeps the shape of nextTick objects across full collections with no tick queued', () => {
    expect(inChild(child)).toBe('true');
  });

  it('is the first import of both entry points', () => {
    for (const [file, specifier] of [
      ['src/cli/main.ts', '../tick-shape.js'],
      ['src/main.ts', './tick-shape.js'],
    ] as const) {
      const firstImport = /^import .*$/m.exec(readFileSync(join(ROOT, file), 'utf8'))?.[0];
      expect(firstImport, file).toBe(`import '${specifier}';`);
    }
  });
});
