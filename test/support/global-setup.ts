// Vitest global setup, run once per `vitest run` in the main process before any worker starts:
// 1. one temp root for the whole run (TMPDIR for the workers and every child they start: pip,
//    nginx, registries, PostgreSQL), removed at the end, so a run leaves no temp folder behind;
//    roots left by killed runs are removed at the next start;
// 2. a PostgreSQL server: TEST_PG_URL (default the local server on 127.0.0.1:5432) when it
//    answers, otherwise a private cluster (Debian's postgresql, from scripts/test-deps) started
//    here, handed to the workers through TEST_PG_URL and stopped at the end;
// 3. a pre-migrated PGlite template (database.pgliteTemplate) in the run root, built by the real
//    open-and-migrate path, handed to the workers through TEST_PGLITE_TEMPLATE: each test's
//    embedded database loads it instead of paying initdb and every migration again (tests that
//    check migrations themselves open without it).
// It must never remove a folder it did not create, nor touch the machine's own PostgreSQL.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { writePgliteTemplate } from '../../src/state/db.js';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const RUN_PREFIX = 'safelist-test-run-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Removes the run roots of earlier runs whose process is gone (killed before teardown). */
function removeStaleRoots(base: string): void {
  for (const name of readdirSync(base)) {
    const pid = new RegExp(`^${RUN_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid && !alive(Number(pid))) rmSync(join(base, name), { recursive: true, force: true });
  }
}

async function answers(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined); // never connected: nothing to close
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  const base = tmpdir();
  removeStaleRoots(base);
  const root = mkdtempSync(join(base, `${RUN_PREFIX}${process.pid}-`));
  // Children that drop privileges (nginx's workers, PostgreSQL as the postgres user) must get through.
  chmodSync(root, 0o755);
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = root;

  let privatePg: PrivatePostgres | undefined;
  const url = process.env.TEST_PG_URL ?? DEFAULT_PG_URL;
  const problem = await answers(url);
  if (problem) {
    try {
      privatePg = await startPrivatePostgres();
      process.env.TEST_PG_URL = privatePg.url;
      process.stderr.write(`test setup: no PostgreSQL at ${url} (${problem}); started a private server at ${privatePg.url}\n`);
    } catch (err) {
      // The PGlite half of the suite can still run; PostgreSQL tests then fail naming the URL.
      process.stderr.write(`test setup: no PostgreSQL at ${url} (${problem}) and no private server either: ${(err as Error).message}\n`);
    }
  }

  const template = join(root, 'pglite-template.tar');
  try {
    await writePgliteTemplate(template);
    process.env.TEST_PGLITE_TEMPLATE = template;
  } catch (err) {
    // Every PGlite test then migrates from scratch and fails on the same error, naming it.
    process.stderr.write(`test setup: no PGlite template (${(err as Error).message}); each test migrates its own database\n`);
  }

  return async () => {
    delete process.env.TEST_PGLITE_TEMPLATE;
    privatePg?.destroy();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    rmSync(root, { recursive: true, force: true });
  };
}
