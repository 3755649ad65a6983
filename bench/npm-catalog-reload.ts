// Benchmark of the npm catalog's full reload (reloadAll) on a large catalog: the peak of the JS
// heap while it reads, against the reference of reading every version in one statement (what
// reloadAll did before it paged, reproduced here) and the heap the loaded catalog keeps. Each in
// its own fresh process, on one PostgreSQL database seeded with generate_series. Prints the
// figures and the ratios with the machine's load. It never asserts anything and is not part of the
// test suite.
//
//   npx tsx bench/npm-catalog-reload.ts [--packages 2000] [--versions 50] [--manifest-bytes 2000]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { NpmCatalog } from '../src/ecosystems/npm/catalog.js';
import { openStateDb } from '../src/ecosystems/index.js';
import type { Db } from '../src/state/db.js';
import { createPgDatabase } from '../test/support/databases.js';

const { values: args } = parseArgs({
  options: {
    packages: { type: 'string', default: '2000' },
    versions: { type: 'string', default: '50' },
    'manifest-bytes': { type: 'string', default: '2000' },
    child: { type: 'string' },
    url: { type: 'string' },
  },
});

/** Samples heapUsed on every turn of the event loop while `fn` runs (its awaits yield to it). */
async function peakHeap(fn: () => Promise<void>): Promise<{ peak: number; after: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
  await fn();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  (globalThis as { gc?: () => void }).gc?.();
  return { peak: peak - base, after: process.memoryUsage().heapUsed - base };
}

/**
 * The reference: reloadAll before it paged, its steps reproduced (a row's record is a copy of the
 * row sharing its strings, as RecordColumns.fromRow makes; versions grouped by spreading).
 */
async function oneStatementRead(db: Db): Promise<unknown> {
  const metas = await db.query<{ name: string; meta: string }>('SELECT name, meta FROM npm_packages');
  const rows = await db.query('SELECT * FROM npm_versions');
  const grouped = new Map<string, Array<Record<string, unknown>>>();
  for (const r of rows) {
    const v = { ...r };
    const name = String(v.name);
    grouped.set(name, [...(grouped.get(name) ?? []), v]);
  }
  return new Map(
    metas.map((m) => [
      m.name,
      { meta: JSON.parse(m.meta) as unknown, versions: new Map((grouped.get(m.name) ?? []).map((v) => [v.version, v])) },
    ]),
  );
}

async function child(kind: string, url: string): Promise<void> {
  const db = await openStateDb({ url, pglitePath: 'memory://' });
  let kept: unknown;
  const started = performance.now();
  const m = await peakHeap(async () => {
    if (kind === 'reference') kept = await oneStatementRead(db);
    else {
      const catalog = new NpmCatalog(db);
      await catalog.reloadAll();
      kept = catalog;
    }
  });
  process.stdout.write(JSON.stringify({ ...m, ms: performance.now() - started, kept: kept ? 1 : 0 }));
  await db.close();
}

async function main(): Promise<void> {
  const packages = Number(args.packages);
  const versions = Number(args.versions);
  const bytes = Number(args['manifest-bytes']);
  const pg = await createPgDatabase();
  try {
    const db = await openStateDb({ url: pg.url, pglitePath: 'memory://' });
    await db.query(
      `INSERT INTO npm_packages (name, meta, upstream) SELECT 'pkg-' || i, '{"distTags":{"latest":"1.0.0"},"fields":{}}', 'npmjs'
       FROM generate_series(1, $1::int) i`,
      [packages],
    );
    await db.query(
      `INSERT INTO npm_versions (name, version, manifest, integrity, sha512, source, source_url)
       SELECT 'pkg-' || i, '1.0.' || j, '{"d":"' || repeat(md5(i::text || '/' || j::text), $3::int / 32) || '"}',
              'sha512-x', repeat('ab', 64), 'npmjs', 'https://registry.example/pkg-' || i || '/-/pkg-' || i || '-1.0.' || j || '.tgz'
       FROM generate_series(1, $1::int) i, generate_series(1, $2::int) j`,
      [packages, versions, bytes],
    );
    await db.close();
    const run = (kind: string) =>
      JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--child', kind, '--url', pg.url], {
          encoding: 'utf8',
        }),
      ) as { peak: number; after: number; ms: number };
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const ref = run('reference');
    const paged = run('paged');
    console.log(
      `npm catalog: ${packages} packages x ${versions} versions, manifests ~${bytes} B; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `reference (every version in one statement): peak heap +${mib(ref.peak)} MiB, kept +${mib(ref.after)} MiB, ${ref.ms.toFixed(0)} ms`,
    );
    console.log(
      `reloadAll (paged, one snapshot):            peak heap +${mib(paged.peak)} MiB, kept +${mib(paged.after)} MiB, ${paged.ms.toFixed(0)} ms`,
    );
    console.log(
      `ratio peak ${(paged.peak / ref.peak).toFixed(2)}x; time ${(paged.ms / ref.ms).toFixed(2)}x; paged peak over its own kept heap ${(paged.peak / paged.after).toFixed(2)}x`,
    );
  } finally {
    await pg.drop();
  }
}

if (args.child) await child(args.child, args.url!);
else await main();
