// The Node.js flags a built CLI asks for on its first line (`#!/usr/bin/env -S node FLAGS`), so
// that a benchmark spawning `node CLI` measures the process as `safelist`, scripts/start and the
// Dockerfile run it. Never invents flags: an older build without them gets none.
import { readFileSync } from 'node:fs';

export function cliNodeFlags(cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  return m ? m[1]!.trim().split(/\s+/) : [];
}
