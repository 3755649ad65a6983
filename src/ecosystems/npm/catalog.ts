// The npm catalog: every package and version Safelist knows of (stored or upstream-only, so a
// refusal can be explained). PostgreSQL is the truth; an in-memory copy per package serves the
// read path without touching the database, refreshed on change notifications (ReplicatedCatalog).
// Manifests keep the upstream JSON text minus dist.tarball, so integrity and shasum are served as
// the upstream gave them. It must never mark a version stored whose bytes were not verified.
import { readSnapshot, type Db, type Queryable } from '../../state/db.js';
import type { CatalogReloads } from '../../catalog/reload.js';
import { ReplicatedCatalog, SINGLE_NAME } from '../../catalog/replicated.js';
import { RecordColumns } from '../../catalog/columns.js';

/** What a package's packument says beside its versions: kept from the upstream, served as is. */
export interface NpmPackageMeta {
  distTags: Record<string, string>;
  created?: string;
  modified?: string;
  /** Top-level fields shown by `npm view` (description, license, homepage, repository, …). */
  fields: Record<string, unknown>;
}

export interface NpmVersion {
  name: string;
  version: string;
  /** The version's manifest from the packument, compact JSON, without dist.tarball. */
  manifest: string;
  integrity: string | null;
  shasum: string | null;
  /** Hex of the sha512 in integrity: the blob key; null when the upstream gave no sha512. */
  sha512: string | null;
  /** Hex sha256 of the tarball, known once stored. */
  sha256: string | null;
  size: number | null;
  stored: boolean;
  source: string;
  sourceUrl: string | null;
  uploadTime: Date | null;
}

export interface NpmPackage {
  name: string;
  meta: NpmPackageMeta;
  versions: Map<string, NpmVersion>;
  /** Increments on every change; part of rendered documents' identity. */
  serial: number;
}

const COLUMNS = new RecordColumns<NpmVersion>({
  name: { column: 'name', type: 'text', intern: true },
  version: { column: 'version', type: 'text' },
  manifest: { column: 'manifest', type: 'text' },
  integrity: { column: 'integrity', type: 'text' },
  shasum: { column: 'shasum', type: 'text' },
  sha512: { column: 'sha512', type: 'text' },
  sha256: { column: 'sha256', type: 'text' },
  size: { column: 'size', type: 'bigint' },
  stored: { column: 'stored', type: 'boolean' },
  source: { column: 'source', type: 'text', intern: true },
  sourceUrl: { column: 'source_url', type: 'text' },
  uploadTime: { column: 'upload_time', type: 'timestamptz' },
});

// A stored version keeps its bytes' facts; an upstream that changes a published version's
// integrity is refused by the sync before it gets here (npm versions are immutable).
const UPSERT_SQL = `INSERT INTO npm_versions (${COLUMNS.insertList}, updated_at)
  SELECT ${COLUMNS.insertList}, now() FROM json_to_recordset($1::json) AS r(${COLUMNS.recordset})
  ON CONFLICT (name, version) DO UPDATE SET
    manifest = EXCLUDED.manifest,
    source_url = COALESCE(EXCLUDED.source_url, npm_versions.source_url),
    upload_time = COALESCE(npm_versions.upload_time, EXCLUDED.upload_time),
    stored = npm_versions.stored OR EXCLUDED.stored,
    sha256 = COALESCE(EXCLUDED.sha256, npm_versions.sha256),
    size = COALESCE(EXCLUDED.size, npm_versions.size),
    updated_at = now()
  WHERE npm_versions.integrity IS NOT DISTINCT FROM EXCLUDED.integrity`;

/**
 * A package's meta and its versions in one statement: one row per version (one row of nulls when
 * it has none; no row when the package is unknown), the meta (up to a readme long) on one row
 * only: the one numbered first, not necessarily returned first.
 */
const READ_PACKAGE = `SELECT CASE WHEN v.nth IS NULL OR v.nth = 1 THEN p.meta END AS package_meta, v.*
  FROM npm_packages p
  LEFT JOIN LATERAL (SELECT ${COLUMNS.selectList}, row_number() OVER () AS nth FROM npm_versions WHERE npm_versions.name = p.name) v ON true
  WHERE p.name = $1`;

const BATCH = 500;

/**
 * Packages per page of reloadAll: bounds the rows (manifests, up to a readme long each) held at
 * once while the catalog is read; see bench/npm-catalog-reload.ts.
 */
const RELOAD_PACKAGES = 100;

function parseMeta(text: string): NpmPackageMeta {
  return JSON.parse(text) as NpmPackageMeta;
}

export class NpmCatalog extends ReplicatedCatalog<[name: string]> {
  private readonly packages = new Map<string, NpmPackage>();

  constructor(db: Db, reloads?: CatalogReloads) {
    super(db, 'npm', SINGLE_NAME, reloads);
  }

  /**
   * Reads every package again (after notifications may have been missed), all in one snapshot
   * (readSnapshot): read at different moments, dist-tags could be installed beside versions they
   * were never committed with until the notified keys are re-read. RELOAD_PACKAGES packages per
   * page (their meta, then their versions), installed as each page comes: the rows of the whole
   * catalog (every manifest) are never held at once beside the catalog itself. A package gone
   * from the database is removed.
   */
  async reloadAll(): Promise<void> {
    const seen = new Set<string>();
    await readSnapshot(this.db, async (q) => {
      for (let after = ''; ;) {
        const metas = await q.query<{ name: string; meta: string }>(
          `SELECT name, meta FROM npm_packages WHERE name > $1 ORDER BY name LIMIT ${RELOAD_PACKAGES}`,
          [after],
        );
        if (metas.length) await this.installPage(q, metas, seen);
        if (metas.length < RELOAD_PACKAGES) return;
        after = metas[metas.length - 1]!.name;
      }
    });
    for (const name of [...this.packages.keys()]) {
      if (seen.has(name)) continue;
      this.packages.delete(name);
      this.notifyListeners(name);
    }
  }

  /** Reads the versions of a page of packages and installs them with their metas. */
  private async installPage(q: Queryable, metas: Array<{ name: string; meta: string }>, seen: Set<string>): Promise<void> {
    const rows = await q.query(`SELECT ${COLUMNS.selectList} FROM npm_versions WHERE name = ANY($1::text[])`, [metas.map((m) => m.name)]);
    const grouped = new Map<string, NpmVersion[]>();
    for (const r of rows) {
      const v = COLUMNS.fromRow(r);
      const list = grouped.get(v.name);
      if (list) list.push(v);
      else grouped.set(v.name, [v]);
    }
    for (const m of metas) {
      seen.add(m.name);
      this.install(m.name, parseMeta(m.meta), grouped.get(m.name) ?? []);
    }
  }

  /**
   * Reads one package, its meta and its versions in one statement (one snapshot: read in two, a
   * commit between them could install dist-tags beside versions they were never committed with).
   */
  protected async load(name: string): Promise<void> {
    const rows = await this.db.query<Record<string, unknown> & { package_meta: string | null }>(READ_PACKAGE, [name]);
    // On one row, not necessarily the first returned.
    const meta = rows.find((r) => r.package_meta !== null)?.package_meta;
    if (meta === undefined || meta === null) {
      this.packages.delete(name);
      this.notifyListeners(name);
      return;
    }
    this.install(
      name,
      parseMeta(meta),
      rows.filter((r) => r.version !== null).map((r) => COLUMNS.fromRow(r)),
    );
  }

  private install(name: string, meta: NpmPackageMeta, versions: NpmVersion[]): void {
    const map = new Map<string, NpmVersion>();
    for (const v of versions) map.set(v.version, v);
    this.packages.set(name, { name, meta, versions: map, serial: this.nextSerial() });
    this.notifyListeners(name);
  }

  package(name: string): NpmPackage | undefined {
    return this.packages.get(name);
  }

  names(): IterableIterator<string> {
    return this.packages.keys();
  }

  /**
   * Records a package's upstream view: its meta and every version (new ones upstream-only).
   * A version whose integrity differs from the recorded one is left as it was (the caller
   * reports it). One transaction that tells every replica at COMMIT; this catalog holds the
   * package as written when it returns.
   */
  async record(name: string, upstream: string, meta: NpmPackageMeta, versions: readonly NpmVersion[]): Promise<void> {
    await this.writeAndReload([name], async (q) => {
      await q.query(
        `INSERT INTO npm_packages (name, meta, upstream, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (name) DO UPDATE SET meta = EXCLUDED.meta, upstream = EXCLUDED.upstream, updated_at = now()`,
        [name, JSON.stringify(meta), upstream],
      );
      await this.upsert(versions, q);
    });
  }

  /**
   * Marks versions stored (their bytes verified and in the blob store), with their sha256 and
   * size, in one transaction that tells every replica at COMMIT.
   */
  async markStored(versions: readonly NpmVersion[]): Promise<void> {
    await this.writeAndReload(new Set(versions.map((v) => v.name)), (q) =>
      this.upsert(
        versions.map((v) => ({ ...v, stored: true })),
        q,
      ),
    );
  }

  private async upsert(versions: readonly NpmVersion[], q: Queryable): Promise<void> {
    for (let i = 0; i < versions.length; i += BATCH) {
      const batch = versions.slice(i, i + BATCH);
      await q.query(UPSERT_SQL, [JSON.stringify(batch.map((v) => COLUMNS.toJsonRow(v)))]);
    }
  }
}
