#!/usr/bin/env -S node --max-semi-space-size=4 --liftoff-only --expose-gc
// The `safelist` command's entry: turns on Node.js's on-disk compile cache, then runs the CLI
// (run.ts). The cache must be on before any of the CLI's modules is loaded, and an ES module's
// static imports are all compiled before its body runs, hence this file of its own. A command
// starts ~50 ms sooner (bench/README.md, 2026-12-01 06:15); the cache lives where Node.js puts it
// (node-compile-cache under the OS temporary folder), keyed by each file's content, so a new
// build never runs stale code. Older Node.js has no cache: run.ts then says which one it needs.
// The Node.js flags above are memory settings (bench/README.md, "Where the memory goes"): a
// 4 MiB young generation instead of V8's grown 64 MiB semi-spaces, and embedded PGlite's
// WebAssembly left to the baseline compiler (its optimising tier peaks at ~500 MiB while it
// compiles Postgres's hot functions), and V8's `gc` exposed so that `serve` compacts the heap
// once after its catalogs' initial load (catalog/compact-heap.ts). They must never change
// behaviour, only memory and speed; scripts/start and the Dockerfile pass the same ones, and V8
// takes them only at process start.
// tick-shape.js comes first: it must run before anything that could make a full GC (see there).
import '../tick-shape.js';
import module from 'node:module';

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await import('./run.js');
