// The migrations' contract with existing databases, now that each ecosystem declares its own
// (src/ecosystems/<id>/migrations.ts) beside the core's (src/state/migrations.ts): the composed
// list has exactly the ids, order and SQL a database migrated before the split recorded (so it
// sees nothing new), every ecosystem table is created and altered by its own module alone, two
// owners of one id are refused, and nothing opens a database without the composed list.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ecosystems, migrations, openStateDb } from '../../src/ecosystems/index.js';
import type { Db } from '../../src/state/db.js';
import { composeMigrations, migrations as coreMigrations } from '../../src/state/migrations.js';

// What a database migrated by main before the split holds in schema_migrations, in order, with
// the first 16 hex digits of each migration's SQL sha256: never change an entry, only append.
const LANDED: ReadonlyArray<readonly [string, string]> = [
  ['0001_pypi_catalog', '99e2ded89aa09503'],
  ['0002_conda_catalog', 'c76ecb06a136db6c'],
  ['0050_audit_append_only', '4cd307815c3bf950'],
  ['0051_exceptions', 'c2153b179f3cbf9e'],
  ['0052_advisories', '67f8b114339bcad3'],
  ['0100_oci_catalog', '9b908b79c3012514'],
  ['0200_gate_queue', '9156f84b1ba00c32'],
  ['0210_gate_fix_first_seen', '6d41f065aabd71cf'],
  ['0211_gate_events_eventgrid', '3cbff26a2127a7ac'],
  ['0212_gate_block', '3a4356ecba5d5499'],
  ['0220_oci_acr_imports', '42e4a2c57471605b'],
  ['0310_gate_verdict_consistency', '32b25f78e7d90ca8'],
  ['0370_conda_indexed_at', 'c01a1f1a4d16fac6'],
  ['0380_pypi_project_status', 'c45e1a6063eb9b69'],
  ['0400_download_log', '5b4fb764933b6701'],
  ['0401_gate_image_packages', '952429aac3a7f0c2'],
  ['0420_npm_catalog', '0668f2d0cf975935'],
  ['0430_console_sessions', 'c2f27a649d249df6'],
  ['0431_exception_bundles', 'c82bb55375460d2d'],
  ['0435_job_runs', 'af54ff0ac9561939'],
  ['0436_audit_log_filters', '210f230ad1a65a61'],
  ['0460_image_incident_indexes', '35c564d75a04bb1d'],
];

const sha = (sql: string) => createHash('sha256').update(sql).digest('hex').slice(0, 16);
/** Tables a script creates or alters (ALTER TABLE … / CREATE TABLE …), lower-cased. */
const tablesIn = (sql: string, verb: 'CREATE' | 'ALTER') =>
  [...sql.matchAll(new RegExp(`${verb} TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)`, 'gi'))].map((m) => m[1]!.toLowerCase());

describe('migrations composed from the core and the ecosystem modules', () => {
  it('are the ids, order and SQL that databases migrated before the split recorded (new ones only after them)', () => {
    const landed = migrations.slice(0, LANDED.length).map((m) => [m.id, sha(m.sql)] as const);
    expect(landed).toEqual(LANDED);
    const ids = migrations.map((m) => m.id);
    expect(ids).toEqual([...ids].sort());
  });

  it('create and alter every ecosystem table in its own module only', () => {
    const modules = [...ecosystems.values()];
    for (const m of modules) {
      const own = m.migrations ?? [];
      expect(own.length, m.id).toBeGreaterThan(0);
      const created = own.flatMap((x) => tablesIn(x.sql, 'CREATE')).filter((t) => t.startsWith(`${m.id}_`));
      expect(created.length, m.id).toBeGreaterThan(0);
      // Whatever mentions one of this module's tables anywhere else (the core, another module) is a misplaced migration.
      for (const other of [{ id: 'core', migrations: coreMigrations }, ...modules.filter((o) => o !== m)]) {
        for (const x of other.migrations ?? []) {
          expect(x.sql, `${other.id}: ${x.id} names a table of ${m.id}`).not.toMatch(new RegExp(`\\b${m.id}_[a-z_]+`, 'i'));
        }
      }
      for (const x of own) {
        for (const t of tablesIn(x.sql, 'ALTER')) expect(t.startsWith(`${m.id}_`), `${m.id}: ${x.id} alters ${t}`).toBe(true);
      }
    }
  });

  it("keeps the first migration's two core tables where they landed (PyPI's 0001): the core builds on them", () => {
    const first = migrations[0]!;
    expect(first.id).toBe('0001_pypi_catalog');
    expect(tablesIn(first.sql, 'CREATE')).toEqual(['pypi_files', 'pypi_projects', 'audit_log', 'blocked_demand']);
    expect(coreMigrations.some((m) => /ON audit_log\b/.test(m.sql))).toBe(true);
  });

  it('refuses an id declared twice, naming both owners, and a malformed id', () => {
    const one = { id: '0500_x', sql: 'SELECT 1' };
    expect(() =>
      composeMigrations([
        { owner: 'ecosystem a', migrations: [one] },
        { owner: 'ecosystem b', migrations: [one] },
      ]),
    ).toThrow('migration 0500_x is declared twice (by ecosystem a and by ecosystem b)');
    expect(() => composeMigrations([{ owner: 'ecosystem a', migrations: [{ id: 'x', sql: '' }] }])).toThrow(/migration "x" of ecosystem a/);
    const later = { id: '0002_b', sql: '' };
    const earlier = { id: '0001_a', sql: '' };
    expect(
      composeMigrations([
        { owner: 'core', migrations: [later] },
        { owner: 'm', migrations: [earlier] },
      ]).map((m) => m.id),
    ).toEqual(['0001_a', '0002_b']);
  });

  describe('applied', () => {
    let db: Db | undefined;
    afterEach(async () => {
      await db?.close();
      db = undefined;
    });

    it('leaves a fresh database with every id recorded and every table in place', async () => {
      db = await openStateDb({ pglitePath: 'memory://' });
      const rows = await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
      expect(rows.map((r) => r.id)).toEqual(migrations.map((m) => m.id));
      const tables = new Set(
        (await db.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")).map((r) => r.t),
      );
      for (const t of migrations.flatMap((m) => tablesIn(m.sql, 'CREATE'))) expect(tables.has(t), t).toBe(true);
    });
  });

  it('are never bypassed: only the registry opens a database with state/db.ts openDb', () => {
    const callers: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts') && /\bopenDb\(/.test(readFileSync(path, 'utf8'))) callers.push(path);
      }
    };
    for (const root of ['src', 'test', 'bench']) walk(root);
    expect(callers.sort()).toEqual(['src/ecosystems/index.ts', 'src/state/db.ts']);
  });
});
