// CEP 47 indexed_timestamp from the catalog, on both database modes: migration 0370 gives rows
// stored before it their creation time and leaves upstream-only rows unset; a record gets its
// time when first stored and keeps it through every later upsert; an upstream's own
// indexed_timestamp is never taken over, and the served record carries Safelist's in Unix ms.
import { afterEach, describe, expect, it } from 'vitest';
import { CondaCatalog, packageFromRecord, type CondaPackage } from '../../src/ecosystems/conda/catalog.js';
import { servedRecord } from '../../src/ecosystems/conda/served.js';
import { migrate, type Db } from '../../src/state/db.js';
import { createPgDatabase, DB_MODES } from '../support/databases.js';
import { migrations, openStateDb } from '../../src/ecosystems/index.js';

const record = (name: string, sha: string) => ({
  name,
  version: '1.0',
  build: 'h0_0',
  build_number: 0,
  depends: [],
  sha256: sha.repeat(64),
  size: 10,
  timestamp: 1_700_000_000_000,
  indexed_timestamp: 1, // an upstream's claim: never Safelist's
});

const pkg = (name: string, sha: string, stored: boolean): CondaPackage =>
  packageFromRecord('conda-forge', 'noarch', `${name}-1.0-h0_0.conda`, record(name, sha), {
    stored,
    source: 'conda-forge',
    sourceUrl: null,
  });

describe.each(DB_MODES)('conda indexed_at on %s', (mode) => {
  let db: Db | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await db?.close();
    await drop?.();
  });

  const open = async () => {
    if (mode === 'pglite') return openStateDb({ pglitePath: 'memory://' });
    const d = await createPgDatabase({ fresh: true }); // migrated here from scratch, not copied
    drop = d.drop;
    return openStateDb({ url: d.url, pglitePath: 'memory://' });
  };

  it('migration 0370 gives rows stored before it their creation time, upstream-only rows none', async () => {
    db = await open();
    const catalog = new CondaCatalog(db);
    await catalog.upsert([pkg('kept', 'a', true), pkg('known', 'b', false)]);
    // Back to the schema before 0370, with rows created a day ago.
    await db.exec(`ALTER TABLE conda_packages DROP COLUMN indexed_at; DELETE FROM schema_migrations WHERE id = '0370_conda_indexed_at';
      UPDATE conda_packages SET created_at = '2026-01-02T03:04:05.678Z'`);
    await migrate(db, migrations);
    await catalog.reloadAll();
    const s = catalog.subdir('conda-forge', 'noarch')!;
    expect(s.packages.get('kept-1.0-h0_0.conda')!.indexedAt?.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(s.packages.get('known-1.0-h0_0.conda')!.indexedAt).toBeNull();
    await catalog.close();
  });

  it('sets indexed_at when a record is first stored and keeps it; drops an upstream indexed_timestamp', async () => {
    db = await open();
    const catalog = new CondaCatalog(db);
    await catalog.upsert([pkg('lib', 'c', false)]);
    const fn = 'lib-1.0-h0_0.conda';
    expect(catalog.subdir('conda-forge', 'noarch')!.packages.get(fn)!.indexedAt).toBeNull();
    const before = Date.now();
    await catalog.upsert([pkg('lib', 'c', true)]);
    const first = catalog.subdir('conda-forge', 'noarch')!.packages.get(fn)!;
    expect(first.indexedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await catalog.upsert([pkg('lib', 'c', true)]);
    await catalog.upsert([pkg('lib', 'c', false)]);
    const later = catalog.subdir('conda-forge', 'noarch')!.packages.get(fn)!;
    expect(later.indexedAt).toEqual(first.indexedAt);
    const served = JSON.parse(servedRecord(later)) as Record<string, unknown>;
    expect(served.indexed_timestamp).toBe(first.indexedAt!.getTime());
    expect(served.timestamp).toBe(1_700_000_000_000);
    expect(JSON.parse(later.record)).not.toHaveProperty('indexed_timestamp');
    await catalog.close();
  });
});
