// Keeps process.nextTick on V8's fast path for the life of the process. Imported first by the
// entry points (src/main.ts, src/cli/main.ts), before any module whose loading could run a full
// garbage collection. It must never change behaviour: it only keeps one object alive.
//
// Why: nextTick (Node's internal/process/task_queues.js) queues each callback as an object
// literal with three symbol keys. V8 reaches that object's shape through map transitions that a
// full (mark-compact) collection clears when no such object is alive, which is whenever it runs
// with no tick queued: at start-up, or while idle. The literal's inline cache then meets new
// maps, turns megamorphic and stays so: every nextTick defines its properties in the runtime,
// ~5,400 instructions instead of ~400, and an HTTP response makes about four (bench/README.md,
// "hot path", 2026-12-01: 22,000 of Safelist's 35,000 extra instructions per small page). One
// tick object kept alive keeps its maps and their transitions, so the cache stays monomorphic.
// Once megamorphic it never recovers, hence "first".
import { createHook } from 'node:async_hooks';

/** The tick object kept alive (exported so that nothing can drop it, and for its test). */
export const heldTickObjects: object[] = [];

/** Catches one TickObject with a one-shot async hook (the only way to reach one) and keeps it. */
function holdTickObjectShape(): void {
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && heldTickObjects.length === 0) heldTickObjects.push(resource);
    },
  });
  hook.enable();
  try {
    // Its callback runs once, on the next turn, and does nothing.
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
}

holdTickObjectShape();
