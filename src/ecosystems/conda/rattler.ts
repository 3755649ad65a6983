// @conda-org/rattler (conda's version and match-spec rules, compiled to WebAssembly), loaded on
// first use: a server that never parses a conda version, spec or subdir never pays for its
// WebAssembly and JavaScript (several MiB resident). Its CommonJS build is the one loaded: it
// reads the .wasm file beside it, where the ES module build keeps the same bytes as a 4 MiB
// base64 literal in the heap for the process's life. Loading is synchronous (the grammar's
// callers are), and a failure to load throws: nothing conda is ever decided without it.
import { createRequire } from 'node:module';
import type * as Rattler from '@conda-org/rattler';

const load = createRequire(import.meta.url);
let loaded: typeof Rattler | undefined;

/** The rattler module, loaded at the first call. */
export function rattler(): typeof Rattler {
  return (loaded ??= load('@conda-org/rattler') as typeof Rattler);
}
