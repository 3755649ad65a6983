// A fresh embedded database folder is created (PGlite's initdb) by a child process, so the
// process that opens it never grows to initdb's ~550 MiB (src/state/pglite-initdb.ts). Shown:
// a fresh folder opens with its migrations applied, the opening process stays far below
// initdb's peak, a folder that holds a database is left as it is, and a folder that cannot be
// created fails naming it. initdb takes seconds of CPU: on a loaded machine, minutes of wall time.
import { spawnSync } from 'node:child_process';
import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureInitialised, isInitialised } from '../../src/state/pglite-initdb.js';
import { cliNodeFlags } from '../../bench/node-flags.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('embedded database creation in a child process', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'safelist-initdb-'));
    dirs.push(d);
    return d;
  };

  const SLOW = { timeout: 600_000 };

  // One initdb for both (it is the slow part): a fresh folder opened as `safelist` opens it, with
  // the configuration's default shared_buffers (8MB) and the CLI's V8 flags, in a child process
  // whose peak memory is read from /proc.
  it("opens a fresh folder with its migrations applied, the opening process far below initdb's ~550 MiB", SLOW, async () => {
    const folder = join(await tempDir(), 'pglite');
    expect(isInitialised(folder)).toBe(false);
    const script = `
      import { readFileSync } from 'node:fs';
      import { openStateDb } from './src/ecosystems/index.ts';
      const db = await openStateDb({ pglitePath: ${JSON.stringify(folder)}, pgliteSettings: { shared_buffers: '8MB' } });
      const [row] = await db.query('SELECT count(*)::int AS n FROM schema_migrations');
      await db.close();
      const hwm = /VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
      process.stdout.write(JSON.stringify({ migrations: row.n, hwmKiB: Number(hwm) }));
    `;
    const flags = cliNodeFlags(join(ROOT, 'src', 'cli', 'main.ts'));
    const out = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(out.status, out.stderr).toBe(0);
    const seen = JSON.parse(out.stdout) as { migrations: number; hwmKiB: number };
    expect(isInitialised(folder)).toBe(true);
    expect(seen.migrations).toBeGreaterThan(0);
    expect(seen.hwmKiB / 1024).toBeLessThan(400);
  });

  it('leaves a folder that holds a database as it is', async () => {
    const folder = await tempDir();
    await writeFile(join(folder, 'PG_VERSION'), '17\n');
    await ensureInitialised(folder, []);
    expect(await readdir(folder)).toEqual(['PG_VERSION']);
  });

  it('fails naming the folder when it cannot be created', async () => {
    const file = join(await tempDir(), 'not-a-folder');
    await writeFile(file, 'x');
    await expect(ensureInitialised(join(file, 'pglite'), [])).rejects.toThrow(
      /creating the embedded database in .*not-a-folder\/pglite failed/,
    );
  });
});
