// Creates an embedded database folder (PGlite's initdb) in a short-lived child process, so the
// process that then opens it — a sync, the server — never carries initdb's memory: PGlite's
// WebAssembly heap only grows, and initdb takes it to ~550 MiB where a running Safelist needs
// ~190 MiB (bench/README.md, sync.ts). Run as a script by ensureInitialised(); it only ever
// creates a database in an empty or missing folder, never touches one that has PG_VERSION, and
// never opens a folder another process holds (the caller holds the folder lock while it runs).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True once the folder holds a database (PostgreSQL writes PG_VERSION at initdb). */
export function isInitialised(folder: string): boolean {
  return existsSync(join(folder, 'PG_VERSION'));
}

/**
 * Runs initdb for folder in a child process unless it is initialised already; rejects with the
 * child's own words when it fails. The caller holds the folder's lock.
 */
export async function ensureInitialised(folder: string, startParams: string[]): Promise<void> {
  if (isInitialised(folder)) return;
  const script = fileURLToPath(import.meta.url);
  // Liftoff only: PGlite's WebAssembly compiled by V8's baseline compiler, seconds of CPU less
  // than optimising it for a run that lasts one initdb (the CLI starts with the same flag).
  const argv = ['--liftoff-only', script, folder, JSON.stringify(startParams)];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 8192) stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0 || !isInitialised(folder)) {
    throw new Error(`creating the embedded database in ${folder} failed (initdb exited ${code}): ${stderr.trim() || 'no message'}`);
  }
}

async function initdb(folder: string, startParams: string[]): Promise<void> {
  if (isInitialised(folder)) return;
  // Loaded here, not at the top: the server imports this file and loads PGlite only when embedded.
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite(folder, { startParams });
  await db.waitReady;
  await db.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [folder, params] = process.argv.slice(2);
  initdb(folder!, JSON.parse(params ?? '[]') as string[]).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
