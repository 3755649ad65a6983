// Both database modes for tests: PGlite in memory, and a throw-away database on the local
// PostgreSQL server (127.0.0.1:5432, trust auth; TEST_PG_URL overrides; when none answers there,
// test/support/global-setup.ts starts a private one and sets TEST_PG_URL). Each call to
// createPgDatabase makes a fresh database and returns its URL and a drop function. PGlite
// and PostgreSQL databases start from the run's pre-migrated templates (global-setup.ts:
// TEST_PGLITE_TEMPLATE, TEST_PG_TEMPLATE) when there are; tests of migrations themselves open
// fresh ones.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type DbMode = 'pglite' | 'pg';
export const DB_MODES: DbMode[] = ['pglite', 'pg'];

const ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The run's pre-migrated PostgreSQL database (global-setup.ts) new databases are copied from; unset: they migrate themselves. */
const PG_TEMPLATE = process.env.TEST_PG_TEMPLATE;

/** A new database, copied from the run's pre-migrated template unless `fresh` (tests of migrations themselves). */
export async function createPgDatabase(opts: { fresh?: boolean } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `safelist_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (${(err as Error).message}); start it or set TEST_PG_URL`);
  }
  await admin.query(PG_TEMPLATE && !opts.fresh ? `CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}` : `CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The run's pre-migrated PGlite template (database.pgliteTemplate); undefined when global setup could not build it. */
export const PGLITE_TEMPLATE: string | undefined = process.env.TEST_PGLITE_TEMPLATE;

/** PGlite settings (memory:// or a folder) that start an empty database from the run's template when there is one. */
export function seededPglite(pglitePath = 'memory://'): { pglitePath: string; pgliteTemplate?: string } {
  return PGLITE_TEMPLATE ? { pglitePath, pgliteTemplate: PGLITE_TEMPLATE } : { pglitePath };
}

/** seededPglite as a YAML value, for the config files of tests that run the `safelist` command. */
export function seededPgliteYaml(pglitePath: string): string {
  return JSON.stringify(seededPglite(pglitePath)); // JSON is YAML, quoting included
}

export interface TestDatabase {
  database: { url?: string; pglitePath: string; pgliteTemplate?: string };
  cleanup(): Promise<void>;
}

/** The database part of a Safelist config for a mode (and a cleanup for pg); openDb takes `database` as it is. */
export async function databaseConfig(mode: DbMode): Promise<TestDatabase> {
  if (mode === 'pglite') return { database: seededPglite(), cleanup: async () => undefined };
  const d = await createPgDatabase();
  return { database: { url: d.url, pglitePath: 'memory://' }, cleanup: d.drop };
}
