// The CLI's first line asks Node.js for memory flags (`#!/usr/bin/env -S node FLAGS`; see
// src/cli/main.ts). A flag this Node.js does not know would stop every `safelist` command before
// it starts, so each one is checked against the Node.js the tests run on; scripts/start and the
// Dockerfile must pass the same ones (they run `node FILE`, which ignores the first line).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

const firstLine = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n', 1)[0]!;
const flags = /^#!\/usr\/bin\/env -S node (.+)$/.exec(firstLine)?.[1]?.trim().split(/\s+/) ?? [];

describe("the CLI's Node.js flags", () => {
  it('are named on the first line and accepted by this Node.js', () => {
    expect(flags.length).toBeGreaterThan(0);
    const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(process.execArgv.join(" "))'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.split(' ')).toEqual(expect.arrayContaining(flags));
  });

  it('are the ones scripts/start and the Dockerfile pass', () => {
    expect(readFileSync(join(ROOT, 'scripts/start'), 'utf8')).toContain(`exec node ${flags.join(' ')} dist/cli/main.js`);
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toContain(
      `ENTRYPOINT ["node", ${flags.map((f) => `"${f}"`).join(', ')}, "dist/cli/main.js"]`,
    );
  });
});
