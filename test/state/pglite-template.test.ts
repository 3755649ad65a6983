// database.pgliteTemplate: an empty PGlite database starts from a data-folder tarball instead of
// initdb, and migrations still run after it is loaded. A template written by writePgliteTemplate
// gives the schema a from-scratch migration gives; a template from before any migration (a bare
// PGlite, gzip'd) is migrated up to it; a folder is seeded once and a database already in it is
// never replaced; a missing template stops the open naming the setting. The from-scratch side
// opens without any template, so migrations stay tested on a truly fresh database.
import { PGlite } from '@electric-sql/pglite';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { writePgliteTemplate, type Db } from '../../src/state/db.js';
import { configSections, migrations, openStateDb } from '../../src/ecosystems/index.js';
import { PGLITE_TEMPLATE } from '../support/databases.js';

/** Tables, columns, indexes and applied migrations: what a migration run leaves behind. */
async function schemaOf(db: Db): Promise<unknown> {
  return {
    columns: await db.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
        WHERE table_schema = 'public' ORDER BY table_name, column_name`,
    ),
    indexes: await db.query(`SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`),
    migrations: (await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id')).map((r) => r.id),
  };
}

describe('PGlite template', () => {
  let dir: string;
  let template: string;
  let fresh: unknown;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-pglite-template-'));
    // The template every other test of this run starts from (global setup wrote it with
    // writePgliteTemplate): checking it here is what lets the rest of the suite rely on it.
    template = PGLITE_TEMPLATE ?? join(dir, 'template.tar');
    if (!PGLITE_TEMPLATE) await writePgliteTemplate(template, migrations);
    const db = await openStateDb({ pglitePath: 'memory://' }); // no template: initdb and every migration
    try {
      fresh = await schemaOf(db);
    } finally {
      await db.close();
    }
  }, 300_000); // initdb and every migration: the slow start the template spares every other test
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the written template opens to the schema a fresh database gets, every migration applied', async () => {
    expect((fresh as { migrations: string[] }).migrations.length).toBeGreaterThan(0);
    const db = await openStateDb({ pglitePath: 'memory://', pgliteTemplate: template });
    try {
      expect(await schemaOf(db)).toEqual(fresh);
    } finally {
      await db.close();
    }
  });

  it('migrates a template older than the code: a gzip dump of a bare PGlite ends with the full schema', async () => {
    const bare = new PGlite();
    let tgz: Blob;
    try {
      await bare.exec('CREATE TABLE seeded_from_template (note text); INSERT INTO seeded_from_template VALUES ($$from the template$$)');
      tgz = await bare.dumpDataDir('gzip');
    } finally {
      await bare.close();
    }
    const old = join(dir, 'bare.tgz');
    await writeFile(old, new Uint8Array(await tgz.arrayBuffer()));
    const db = await openStateDb({ pglitePath: 'memory://', pgliteTemplate: old });
    try {
      expect(await db.query('SELECT note FROM seeded_from_template')).toEqual([{ note: 'from the template' }]);
      await db.exec('DROP TABLE seeded_from_template');
      expect(await schemaOf(db)).toEqual(fresh);
    } finally {
      await db.close();
    }
  }, 300_000); // an initdb, a load and every migration: more than one start's worth on a loaded machine

  it('seeds an empty folder once; a database already in the folder is kept, template or not', async () => {
    const folder = join(dir, 'state');
    const first = await openStateDb({ pglitePath: folder, pgliteTemplate: template });
    try {
      expect(await schemaOf(first)).toEqual(fresh);
      await first.exec('CREATE TABLE written_here (n int); INSERT INTO written_here VALUES (7)');
    } finally {
      await first.close();
    }
    const again = await openStateDb({ pglitePath: folder, pgliteTemplate: template });
    try {
      expect(await again.query('SELECT n FROM written_here')).toEqual([{ n: 7 }]);
    } finally {
      await again.close();
    }
  });

  it('refuses to open when the template cannot be read, naming the setting and the file', async () => {
    const missing = join(dir, 'no-such-template.tar');
    await expect(openStateDb({ pglitePath: 'memory://', pgliteTemplate: missing })).rejects.toThrow(
      `database.pgliteTemplate: cannot read ${missing}`,
    );
    // The folder lock taken for the open is released: the folder opens afterwards.
    const folder = join(dir, 'after-refusal');
    await expect(openStateDb({ pglitePath: folder, pgliteTemplate: missing })).rejects.toThrow('database.pgliteTemplate');
    const db = await openStateDb({ pglitePath: folder, pgliteTemplate: template });
    await db.close();
  });

  it('is a setting like any other: SAFELIST_DATABASE__PGLITE_TEMPLATE sets it', () => {
    const { config } = loadConfig({ sections: configSections, env: { SAFELIST_DATABASE__PGLITE_TEMPLATE: template } });
    expect(config.database.pgliteTemplate).toBe(template);
    expect(loadConfig({ sections: configSections, env: {} }).config.database.pgliteTemplate).toBeUndefined();
  });
});
