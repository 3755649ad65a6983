// The conda catalog: every package record Safelist knows of, per channel and subdir, stored
// or upstream-only. PostgreSQL is the truth; this class keeps an in-memory copy for the read
// path, refreshed per (channel, subdir) on change notifications, so requests never touch the
// database. Records keep the upstream JSON text, so served repodata carries the same hashes.
import pLimit from 'p-limit';
import { readSnapshot, type Db, type Queryable } from '../../state/db.js';
import type { CatalogReloads } from '../../catalog/reload.js';
import { ReplicatedCatalog, NAME_PAIR } from '../../catalog/replicated.js';
import { interner, RecordColumns } from '../../catalog/columns.js';
import type { CondaRecordFields } from './repodata-filter.js';

export interface CondaPackage {
  channel: string;
  subdir: string;
  filename: string;
  name: string;
  version: string;
  build: string;
  sha256: string;
  md5: string | null;
  size: number;
  /** The repodata record as compact JSON. */
  record: string;
  stored: boolean;
  source: string;
  sourceUrl: string | null;
  uploadTime: Date | null;
  /** CEP 47: when Safelist first stored the file; set by the database, never by the record. */
  indexedAt: Date | null;
}

export interface CondaSubdir {
  channel: string;
  subdir: string;
  /** By file name. */
  packages: Map<string, CondaPackage>;
  /** Increments on every change; part of rendered documents' identity. */
  serial: number;
}

/** The columns of conda_packages, declared once. */
const COLUMNS = new RecordColumns<CondaPackage>({
  channel: { column: 'channel', type: 'text', intern: true },
  subdir: { column: 'subdir', type: 'text', intern: true },
  filename: { column: 'filename', type: 'text' },
  name: { column: 'name', type: 'text', intern: true },
  version: { column: 'version', type: 'text', intern: true },
  build: { column: 'build', type: 'text' },
  sha256: { column: 'sha256', type: 'text' },
  md5: { column: 'md5', type: 'text' },
  size: { column: 'size', type: 'bigint' },
  record: { column: 'record', type: 'text', read: (r) => withoutServerFields(r) },
  stored: { column: 'stored', type: 'boolean' },
  source: { column: 'source', type: 'text', intern: true },
  sourceUrl: { column: 'source_url', type: 'text' },
  uploadTime: { column: 'upload_time', type: 'timestamptz' },
  // CEP 47: set by the upsert's SQL when a record is first stored.
  indexedAt: { column: 'indexed_at', type: 'timestamptz', readOnly: true },
});

/** Rows written before upstream fields were dropped on the way in may still carry one. */
function withoutServerFields(record: string): string {
  if (!SERVER_FIELDS.some((f) => record.includes(`"${f}"`))) return record;
  return JSON.stringify(JSON.parse(record) as unknown, (k, v: unknown) => (SERVER_FIELDS.includes(k) ? undefined : v));
}

/**
 * Record fields that would point a client somewhere else than Safelist (an upstream URL or
 * channel): dropped, so that every download goes through the policy check. Hashes stay.
 */
const ELSEWHERE_FIELDS = ['url', 'channel'];

/**
 * Record fields that only the serving channel may set (CEP 47 indexed_timestamp): an upstream's
 * value is dropped, Safelist adds its own when it serves the record.
 */
const SERVER_FIELDS = ['indexed_timestamp'];

/** A catalog entry for a parsed repodata record. */
export function packageFromRecord(
  channel: string,
  subdir: string,
  filename: string,
  record: CondaRecordFields,
  extra: { stored: boolean; source: string; sourceUrl: string | null },
): CondaPackage {
  return {
    channel,
    subdir,
    filename,
    name: record.name.toLowerCase(),
    version: record.version,
    build: record.build,
    sha256: record.sha256!,
    md5: record.md5 ?? null,
    size: record.size ?? 0,
    record: JSON.stringify(record, (k, v: unknown) => (ELSEWHERE_FIELDS.includes(k) || SERVER_FIELDS.includes(k) ? undefined : v)),
    uploadTime:
      typeof record.timestamp === 'number' ? new Date(record.timestamp > 1e11 ? record.timestamp : record.timestamp * 1000) : null,
    indexedAt: null,
    ...extra,
  };
}

const key = (channel: string, subdir: string) => NAME_PAIR.name(channel, subdir);

/**
 * Rows read per query when a subdir is (re)loaded. One query for a whole 100,000-record subdir
 * held the rows three times at once (the driver's result, its rows, the entries) and grew
 * PGlite's WebAssembly heap, which never shrinks, by the size of the result.
 */
const RELOAD_ROWS = 5000;

/**
 * Subdir reads one catalog runs at once. Each keeps a pool connection for its whole read (its
 * snapshot's transaction), and a write that touched many subdirs notifies them all at once:
 * unbounded, they could take every connection of the pool (10 by default) from requests and jobs.
 */
const CONCURRENT_READS = 2;

/** Rows per statement, and the JSON text a statement carries at most: bounds memory per batch. */
const UPSERT_BATCH_ROWS = 1000;
const UPSERT_BATCH_CHARS = 8 << 20;

/**
 * One statement for a whole batch: the rows travel as one JSON array (json_to_recordset), which
 * pg and PGlite both pass as a single text parameter, whatever the batch size.
 */
// indexed_at (CEP 47): set when a record is first stored, never moved afterwards.
const UPSERT_SQL = `INSERT INTO conda_packages (${COLUMNS.insertList}, indexed_at, updated_at)
  SELECT ${COLUMNS.insertList}, CASE WHEN stored THEN now() END, now() FROM json_to_recordset($1::json) AS r(${COLUMNS.recordset})
  ON CONFLICT (channel, subdir, filename) DO UPDATE SET
    record = EXCLUDED.record,
    md5 = COALESCE(EXCLUDED.md5, conda_packages.md5),
    stored = conda_packages.stored OR EXCLUDED.stored,
    source_url = COALESCE(EXCLUDED.source_url, conda_packages.source_url),
    upload_time = COALESCE(conda_packages.upload_time, EXCLUDED.upload_time),
    indexed_at = COALESCE(conda_packages.indexed_at, EXCLUDED.indexed_at),
    updated_at = now()
  WHERE conda_packages.sha256 = EXCLUDED.sha256`;

/**
 * Splits records into statement-sized batches. A file name given twice goes to separate
 * batches (in order), as PostgreSQL refuses to update one row twice in a statement: the later
 * record applies on top of the earlier one, as it did row by row.
 */
function* upsertBatches(packages: readonly CondaPackage[]): Generator<CondaPackage[]> {
  let batch: CondaPackage[] = [];
  let names = new Set<string>();
  let chars = 0;
  for (const p of packages) {
    const k = `${p.channel}/${p.subdir}/${p.filename}`;
    if (batch.length && (batch.length >= UPSERT_BATCH_ROWS || chars + p.record.length > UPSERT_BATCH_CHARS || names.has(k))) {
      yield batch;
      batch = [];
      names = new Set();
      chars = 0;
    }
    batch.push(p);
    names.add(k);
    chars += p.record.length + 512;
  }
  if (batch.length) yield batch;
}

export class CondaCatalog extends ReplicatedCatalog<[channel: string, subdir: string]> {
  private readonly subdirs = new Map<string, CondaSubdir>();
  private readonly reads = pLimit(CONCURRENT_READS);

  /** `reloads` retries reloads that fail after a notification (shared by the runtime's catalogs). */
  constructor(db: Db, reloads?: CatalogReloads) {
    super(db, 'conda', NAME_PAIR, reloads);
  }

  /** Reads every channel and subdir again (after notifications may have been missed). */
  async reloadAll(): Promise<void> {
    const pairs = await this.db.query<{ channel: string; subdir: string }>('SELECT DISTINCT channel, subdir FROM conda_packages');
    for (const { channel, subdir } of pairs) await this.reload(channel, subdir);
  }

  /**
   * Every record of a subdir, RELOAD_ROWS per query in file name order, all in one snapshot (a
   * read-only REPEATABLE READ transaction): pages read at different moments could install a
   * write half seen (a record it added past the first page without one before it). Pages, not one
   * statement, so the rows are never held twice (the driver's result beside the entries). At
   * most CONCURRENT_READS at once.
   */
  private readSubdir(channel: string, subdir: string): Promise<CondaPackage[]> {
    return this.reads(() => this.readPages(channel, subdir));
  }

  private readPages(channel: string, subdir: string): Promise<CondaPackage[]> {
    return readSnapshot(this.db, async (q) => {
      const intern = interner();
      const out: CondaPackage[] = [];
      for (let after = ''; ; after = out[out.length - 1]!.filename) {
        const rows = await q.query(
          `SELECT ${COLUMNS.selectList} FROM conda_packages WHERE channel = $1 AND subdir = $2 AND filename > $3
           ORDER BY filename LIMIT ${RELOAD_ROWS}`,
          [channel, subdir, after],
        );
        for (const r of rows) out.push(COLUMNS.fromRow(r, intern));
        if (rows.length < RELOAD_ROWS) return out;
      }
    });
  }

  private install(channel: string, subdir: string, list: CondaPackage[]): void {
    const packages = new Map<string, CondaPackage>();
    for (const p of list.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0))) packages.set(p.filename, p);
    this.subdirs.set(key(channel, subdir), { channel, subdir, packages, serial: this.nextSerial() });
    this.notifyListeners(channel, subdir);
  }

  protected async load(channel: string, subdir: string): Promise<void> {
    this.install(channel, subdir, await this.readSubdir(channel, subdir));
  }

  subdir(channel: string, subdir: string): CondaSubdir | undefined {
    return this.subdirs.get(key(channel, subdir));
  }

  /** Every (channel, subdir) with at least one record. */
  all(): IterableIterator<CondaSubdir> {
    return this.subdirs.values();
  }

  /**
   * Inserts or updates records. A stored record is never downgraded to upstream-only, and a
   * file name keeps its sha256 (callers check; the database refuses a silent change).
   * Written in batches of multi-row statements (a first sync brings hundreds of thousands of
   * records). Inside the caller's transaction `q`, the caller publishes (writeSubdirs). Without
   * one (the catalog's own database is none), in a transaction of its own that tells every
   * replica at COMMIT, once per subdir; this catalog holds the records when it returns.
   */
  async upsert(packages: CondaPackage[], q?: Queryable): Promise<void> {
    if (q && q !== this.db) return this.writeRecords(packages, q);
    const touched = new Set(packages.map((p) => key(p.channel, p.subdir)));
    await this.writeAndReload(touched, (tx) => this.writeRecords(packages, tx));
  }

  private async writeRecords(packages: readonly CondaPackage[], q: Queryable): Promise<void> {
    for (const batch of upsertBatches(packages)) await q.query(UPSERT_SQL, [JSON.stringify(batch.map((p) => COLUMNS.toJsonRow(p)))]);
  }

  /**
   * Runs `write` (upserts and forgets given its `q`) in one transaction that tells every replica
   * at COMMIT that these subdirs changed; this catalog holds the write when it returns. A crash
   * after the commit cannot leave the others unaware of it.
   */
  writeSubdirs<T>(subdirs: ReadonlyArray<readonly [channel: string, subdir: string]>, write: (q: Queryable) => Promise<T>): Promise<T> {
    return this.writeAndReload(
      subdirs.map(([channel, subdir]) => key(channel, subdir)),
      write,
    );
  }

  /** Forgets upstream-only records of a subdir that its upstream no longer lists (in writeSubdirs' transaction `q`). */
  async forgetUnstored(channel: string, subdir: string, keep: ReadonlySet<string>, q: Queryable): Promise<number> {
    const current = this.subdir(channel, subdir);
    const gone = [...(current?.packages.values() ?? [])].filter((p) => !p.stored && !keep.has(p.filename)).map((p) => p.filename);
    if (gone.length)
      await q.query('DELETE FROM conda_packages WHERE channel = $1 AND subdir = $2 AND NOT stored AND filename = ANY($3::text[])', [
        channel,
        subdir,
        gone,
      ]);
    return gone.length;
  }

  /** Forgets records whatever their state: the upstream withdrew them (its "removed" list; in writeSubdirs' transaction `q`). */
  async forget(channel: string, subdir: string, filenames: readonly string[], q: Queryable): Promise<number> {
    const current = this.subdir(channel, subdir);
    const gone = filenames.filter((f) => current?.packages.has(f));
    if (gone.length)
      await q.query('DELETE FROM conda_packages WHERE channel = $1 AND subdir = $2 AND filename = ANY($3::text[])', [
        channel,
        subdir,
        gone,
      ]);
    return gone.length;
  }
}
