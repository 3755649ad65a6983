// The Node.js flags a built CLI asks for on its first line (`#!/usr/bin/env -S node FLAGS`), so
// that a benchmark spawning `node CLI` measures the process as `safelist`, scripts/start and the
// Dockerfile run it. Never invents flags: an older build without them gets none.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export function cliNodeFlags(cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/**
 * The flags bench/bare-fastify.ts runs with: the CLI's, and dist/tick-shape.js preloaded, which
 * Safelist's entry points import first (it must run before anything that could make a full GC;
 * for a .ts entry, loading the type stripper can). `root`: the repository.
 */
export function bareFastifyFlags(root: string): string[] {
  return [
    ...cliNodeFlags(join(root, 'dist', 'cli', 'main.js')),
    '--import',
    pathToFileURL(join(root, 'dist', 'tick-shape.js')).href,
    '--disable-warning=ExperimentalWarning',
  ];
}
