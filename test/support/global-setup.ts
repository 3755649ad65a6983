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
//    check migrations themselves open without it);
// 4. likewise a pre-migrated database on that PostgreSQL server (TEST_PG_TEMPLATE), which
//    test/support/databases.ts copies with CREATE DATABASE … TEMPLATE; nothing stays connected
//    to it (a template must have no other session while copied); dropped at the end, and those
//    of killed runs at the next start;
// 5. src/ transpiled once (test/support/cli-build.ts), handed to the workers through
//    TEST_CLI_ENTRY: every `safelist` child process a test starts runs it instead of tsx.
// It must never remove a folder it did not create, nor touch the machine's own PostgreSQL beyond
// creating and dropping databases of its own.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { writePgliteTemplate } from '../../src/state/db.js';
import { migrations, openStateDb } from '../../src/ecosystems/index.js';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';
import { transpileCli } from './cli-build.js';

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

const PG_TEMPLATE_PREFIX = 'safelist_template_';

/** On the server at adminUrl, a database migrated by the real open-and-migrate path; returns its name. */
async function createPgTemplate(adminUrl: string): Promise<string> {
  const name = `${PG_TEMPLATE_PREFIX}${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const stale = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${PG_TEMPLATE_PREFIX}%`,
    ]);
    for (const { datname } of stale.rows) {
      const pid = /^safelist_template_(\d+)$/.exec(datname)?.[1];
      if (pid && !alive(Number(pid))) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openStateDb({ url: url.toString(), pglitePath: 'memory://' });
  await db.close(); // every connection gone before anyone copies it
  return name;
}

async function dropPgDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
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

  // A failed transpile fails the run here, naming the file: the CLI tests could not run anyway.
  const repo = join(import.meta.dirname, '../..');
  const transpiled = await transpileCli(repo);
  process.env.TEST_CLI_ENTRY = transpiled.entry;

  const template = join(root, 'pglite-template.tar');
  try {
    await writePgliteTemplate(template, migrations);
    process.env.TEST_PGLITE_TEMPLATE = template;
  } catch (err) {
    // Every PGlite test then migrates from scratch and fails on the same error, naming it.
    process.stderr.write(`test setup: no PGlite template (${(err as Error).message}); each test migrates its own database\n`);
  }

  const adminUrl = process.env.TEST_PG_URL ?? DEFAULT_PG_URL;
  let pgTemplate: string | undefined;
  if (!problem || privatePg) {
    try {
      pgTemplate = await createPgTemplate(adminUrl);
      process.env.TEST_PG_TEMPLATE = pgTemplate;
    } catch (err) {
      process.stderr.write(`test setup: no PostgreSQL template (${(err as Error).message}); each test migrates its own database\n`);
    }
  }

  return async () => {
    delete process.env.TEST_PGLITE_TEMPLATE;
    delete process.env.TEST_CLI_ENTRY;
    rmSync(transpiled.dir, { recursive: true, force: true });
    delete process.env.TEST_PG_TEMPLATE;
    if (pgTemplate) {
      const name = pgTemplate;
      // Reported, not thrown: the next run drops a template left behind (its pid is gone).
      await dropPgDatabase(adminUrl, name).catch((err: unknown) =>
        process.stderr.write(`test teardown: could not drop ${name}: ${(err as Error).message}\n`),
      );
    }
    privatePg?.destroy();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    rmSync(root, { recursive: true, force: true });
  };
}
