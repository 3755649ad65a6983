// Writing conda records in bulk, as a first sync of a large channel does: a few thousand records
// land completely in one transaction, exactly as given (record text byte for byte, nulls, sizes,
// times), or not at all when one of them is refused; a file name given twice applies in order;
// a changed sha256 never overwrites a record; the writing catalog reads a written subdir back
// once (not again on its own notification); a subdir larger than one read page comes back whole.
// On both database modes.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_CHANNEL } from '../../src/catalog/changes.js';
import { CondaCatalog, type CondaPackage } from '../../src/ecosystems/conda/catalog.js';
import type { Db, Queryable } from '../../src/state/db.js';
import { DB_MODES, databaseConfig } from '../support/databases.js';
import { until } from '../support/wait.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function record(i: number, over: Partial<CondaPackage> = {}): CondaPackage {
  const name = `pkg-${i % 300}`;
  const filename = `${name}-1.${i}-h${i}_0.conda`;
  return {
    channel: 'conda-forge',
    subdir: i % 2 ? 'linux-64' : 'noarch',
    filename,
    name,
    version: `1.${i}`,
    build: `h${i}_0`,
    sha256: sha(filename),
    md5: i % 3 ? createHash('md5').update(filename).digest('hex') : null,
    size: 5_000_000_000 + i,
    // Quotes, backslashes, non-ASCII and a line break: the record must come back byte for byte.
    record: JSON.stringify({ name, version: `1.${i}`, depends: [`python >=3.11`, 'ünïcode "q" \\ x'], note: 'a\nb' }),
    stored: false,
    source: 'conda-forge',
    sourceUrl: i % 5 ? `http://upstream.example/${filename}` : null,
    uploadTime: i % 7 ? new Date(Date.UTC(2024, 0, 1) + i * 1000) : null,
    indexedAt: null,
    ...over,
  };
}

describe.each(DB_MODES)('conda catalog bulk upsert on %s', (mode) => {
  let db: Db;
  let catalog: CondaCatalog;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const cfg = await databaseConfig(mode);
    cleanup = cfg.cleanup;
    db = await openStateDb(cfg.database);
    catalog = new CondaCatalog(db);
    await catalog.open();
  });

  afterAll(async () => {
    await catalog?.close();
    await db?.close();
    await cleanup?.();
  });

  const count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM conda_packages'))[0]!.n);

  it('lands a few thousand records completely and exactly in one transaction', async () => {
    const all = Array.from({ length: 4500 }, (_, i) => record(i));
    let statements = 0;
    await catalog.writeSubdirs(
      [
        ['conda-forge', 'linux-64'],
        ['conda-forge', 'noarch'],
      ],
      (q) =>
        catalog.upsert(all, {
          query: (sql, params) => {
            statements++;
            return q.query(sql, params);
          },
          exec: (sql) => q.exec(sql),
        }),
    );
    // Multi-row statements, not one round trip per record.
    expect(statements).toBeLessThanOrEqual(10);
    expect(await count()).toBe(4500);
    for (const p of [all[0]!, all[1]!, all[2_999]!, all[4_499]!]) {
      expect(catalog.subdir(p.channel, p.subdir)?.packages.get(p.filename)).toEqual(p);
    }
    expect(catalog.subdir('conda-forge', 'linux-64')!.packages.size + catalog.subdir('conda-forge', 'noarch')!.packages.size).toBe(4500);
  });

  it('reads a subdir larger than one reload page back whole, in a catalog opened afresh', async () => {
    // 12,001 records: more than two of the pages (5,000 rows) a subdir is read back in.
    const big = Array.from({ length: 12_001 }, (_, i) => record(100_000 + i, { subdir: 'win-64' }));
    await catalog.upsert(big);
    const fresh = new CondaCatalog(db);
    await fresh.open();
    try {
      const packages = fresh.subdir('conda-forge', 'win-64')!.packages;
      expect(packages.size).toBe(12_001);
      for (const p of big) expect(packages.get(p.filename)).toEqual(p);
      expect([...packages.keys()]).toEqual(big.map((p) => p.filename).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(fresh.subdir('conda-forge', 'linux-64')!.packages.size).toBe(catalog.subdir('conda-forge', 'linux-64')!.packages.size);
    } finally {
      await fresh.close();
    }
    await db.query("DELETE FROM conda_packages WHERE subdir = 'win-64'");
    await catalog.reload('conda-forge', 'win-64');
  });

  it('writes nothing of a batch when one record is refused', async () => {
    const more = Array.from({ length: 3000 }, (_, i) => record(10_000 + i));
    more[2_500] = { ...more[2_500]!, sha256: 'not-a-sha256' };
    await expect(db.tx((q) => catalog.upsert(more, q))).rejects.toThrow();
    expect(await count()).toBe(4500);
  });

  it('applies a file name given twice in order, never downgrades stored, and keeps the first sha256', async () => {
    const a = record(20_000);
    await catalog.upsert([
      { ...a, stored: true },
      { ...a, stored: false, record: '{"second":true}', md5: null },
    ]);
    const got = catalog.subdir(a.channel, a.subdir)!.packages.get(a.filename)!;
    expect(got).toMatchObject({ stored: true, record: '{"second":true}', md5: a.md5 });
    await catalog.upsert([{ ...a, sha256: sha('other bytes'), record: '{"third":true}' }]);
    expect(catalog.subdir(a.channel, a.subdir)!.packages.get(a.filename)).toMatchObject({ sha256: a.sha256, record: '{"second":true}' });
  });

  it('reloads a written subdir once in the writing catalog, and in every other catalog too', async () => {
    let reads = 0;
    const countReads = (q: Queryable): Queryable => ({
      query: (sql, params) => {
        if (/FROM conda_packages WHERE channel/.test(sql)) reads++;
        return q.query(sql, params);
      },
      exec: (sql) => q.exec(sql),
    });
    // A subdir is read in a transaction (one snapshot): its statements are counted there too.
    const counting = new Proxy(db, {
      get(target, prop) {
        if (prop === 'query') return countReads(target).query;
        if (prop === 'tx') return (fn: (q: Queryable) => Promise<unknown>) => target.tx((q) => fn(countReads(q)));
        const v: unknown = Reflect.get(target, prop);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const writer = new CondaCatalog(counting);
    await writer.open();
    try {
      const p = record(30_001);
      // Notifications reach listeners in order: once a marker arrives, every notification sent
      // before it (the earlier tests' writes, the writer's own) has been handled.
      const seen: string[] = [];
      const unlisten = await db.listen(CATALOG_CHANNEL, (payload) => seen.push(payload));
      const drain = async (marker: string) => {
        await db.notify(CATALOG_CHANNEL, JSON.stringify({ ecosystem: 'none', name: marker }));
        await until(() => seen.some((s) => s.includes(marker)) || undefined, `the ${marker} notification`);
      };
      await drain('before');
      reads = 0;
      await writer.upsert([p]);
      await until(() => catalog.subdir(p.channel, p.subdir)?.packages.get(p.filename), 'the other catalog to reload');
      await drain('after');
      await unlisten();
      expect(reads).toBe(1);
    } finally {
      await writer.close();
    }
  });
});
