// One memory-reducing collection after the in-memory catalogs' initial load. Loading a large
// catalog promotes the rows it reads into V8's old space next to the records it keeps, and no
// collection runs once the server is idle: at 300,000 PyPI files ~110 MiB of that garbage stayed
// resident, on pages half full of live records that an ordinary collection does not give back
// (bench/README.md, scale). V8's last-resort collection compacts those pages; it needs the global
// `gc` that --expose-gc gives (the CLI's first line asks for it). Without it this does nothing:
// it only changes how much memory the process holds, never what it serves.

/** The collection asked for: major, synchronous, and compacting as V8 does before giving up for lack of memory. */
export const COMPACTING_GC = { type: 'major', execution: 'sync', flavor: 'last-resort' } as const;

export type ExposedGc = (options: typeof COMPACTING_GC) => void;

/**
 * Runs the compacting collection once, when `gc` is exposed; returns how long it took (ms), or
 * undefined when the process was started without --expose-gc.
 */
export function compactHeapAfterLoad(gc: ExposedGc | undefined = (globalThis as { gc?: ExposedGc }).gc): number | undefined {
  if (typeof gc !== 'function') return undefined;
  const t0 = performance.now();
  gc(COMPACTING_GC);
  return performance.now() - t0;
}
