// The PyPI catalog: what Safelist knows of each allowlisted project's files, stored and
// upstream-only. PostgreSQL is the truth; this class keeps an in-memory copy for the read
// path, refreshed per project on change notifications, so requests never touch the database.
// It also keeps the PEP 792 status an upstream gave a project (relayed by the sync): a project
// with such a status is known even when none of its files is.
import { readSnapshot, type Db, type Queryable } from '../../state/db.js';
import type { CatalogReloads } from '../../catalog/reload.js';
import { ReplicatedCatalog, SINGLE_NAME } from '../../catalog/replicated.js';
import { RecordColumns, interner } from '../../catalog/columns.js';
import { packDigest, packTime, packUrl, unpackDigest, unpackTime, unpackUrl } from '../../catalog/compact.js';
import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';

export interface PypiFile {
  sha256: string;
  project: string;
  displayName: string;
  version: string;
  filename: string;
  /** Bytes: of the stored file, else as the upstream announced it; 0 when not stored and the upstream did not say (see knownSize). */
  size: number;
  requiresPython: string | null;
  uploadTime: Date | null;
  /** Upstream yank: null = not yanked, '' = yanked without reason, else the reason. */
  yanked: string | null;
  metadataSha256: string | null;
  stored: boolean;
  metadataStored: boolean;
  source: string;
  sourceUrl: string | null;
  /** When Safelist first recorded the file (set by the database; ignored on upsert). */
  firstSeen?: Date;
}

/**
 * The file's size when it is known: a stored file's own, or the size its upstream announced.
 * undefined for an upstream-only record from an index that gives no sizes (PEP 503 HTML); no
 * distribution file is empty, so 0 never is a real size.
 */
export function knownSize(f: PypiFile): number | undefined {
  return f.stored || f.size > 0 ? f.size : undefined;
}

/**
 * The clock a view's cool-down runs on: the upstream upload time, or, when the upstream did
 * not say (PEP 503 HTML without upload times, a local import), when Safelist first saw the
 * file. Publication is never later than that, so the hold is never shorter: fail closed.
 */
export function publishedAt(f: PypiFile): Date | undefined {
  return f.uploadTime ?? f.firstSeen;
}

/** A PEP 792 status relayed from the upstream the sync read the project from. */
export interface RelayedStatus {
  status: 'archived' | 'deprecated' | 'quarantined';
  reason: string | null;
  upstream: string;
}

export interface PypiProject {
  name: string;
  displayName: string;
  /** The upstream's PEP 792 status; absent = active. */
  upstreamStatus?: RelayedStatus;
  /** Sorted by version (PEP 440 order), then file name. */
  files: PypiFile[];
  /** Increments on every change to this project; part of rendered documents' identity. */
  serial: number;
}

/** A row of pypi_project_status: a project's relayed status. */
interface ProjectStatusRecord extends RelayedStatus {
  project: string;
}

/** The columns of pypi_project_status, declared once. */
const STATUS = new RecordColumns<ProjectStatusRecord>({
  project: { column: 'project', type: 'text' },
  status: { column: 'status', type: 'text' },
  reason: { column: 'reason', type: 'text' },
  upstream: { column: 'upstream', type: 'text' },
});

function fromStatusRow(row: Record<string, unknown>): RelayedStatus {
  const { project: _project, ...status } = STATUS.fromRow(row);
  return status;
}

/**
 * Projects read per query by reloadAll. 100 (~1,000 rows): the rows of a chunk are garbage once
 * installed, and when they fit in V8's young generation (--max-semi-space-size=4) they die
 * there; at 500 they were promoted first, and the old-space garbage (~20 MiB at 22,000 files)
 * was still resident when the server became ready (bench/README.md).
 */
const RELOAD_CHUNK = 100;

/** A version that is a release segment alone ("2", "1.10.3"), as most are. */
const PLAIN_RELEASE = /^\d+(?:\.\d+)*$/;

/**
 * PEP 440's order of two plain releases: by their numbers, a missing one counting as 0 (1.0 ==
 * 1.0.0). The same answer as comparePep440 without parsing (its regex and objects were most of
 * what the initial catalog load allocated: bench/README.md, 2026-12-01 02:57-04:40).
 */
function comparePlainReleases(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < x.length || i < y.length; i++) {
    const m = Number(x[i] ?? 0);
    const n = Number(y[i] ?? 0);
    if (m !== n) return m < n ? -1 : 1;
  }
  return 0;
}

function compareVersions(a: string, b: string): number {
  if (PLAIN_RELEASE.test(a) && PLAIN_RELEASE.test(b)) return comparePlainReleases(a, b);
  const va = validPep440(a) !== null;
  const vb = validPep440(b) !== null;
  if (va && vb) return comparePep440(a, b);
  if (va !== vb) return va ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The columns of pypi_files, declared once. */
const COLUMNS = new RecordColumns<PypiFile>({
  sha256: { column: 'sha256', type: 'text' },
  project: { column: 'project', type: 'text', intern: true },
  displayName: { column: 'display_name', type: 'text', intern: true },
  version: { column: 'version', type: 'text', intern: true },
  filename: { column: 'filename', type: 'text' },
  size: { column: 'size', type: 'bigint' },
  requiresPython: { column: 'requires_python', type: 'text', intern: true },
  uploadTime: { column: 'upload_time', type: 'timestamptz' },
  yanked: { column: 'yanked', type: 'text' },
  metadataSha256: { column: 'metadata_sha256', type: 'text' },
  stored: { column: 'stored', type: 'boolean' },
  metadataStored: { column: 'metadata_stored', type: 'boolean' },
  source: { column: 'source', type: 'text', intern: true },
  sourceUrl: { column: 'source_url', type: 'text' },
  firstSeen: { column: 'created_at', type: 'timestamptz', readOnly: true },
});

/**
 * A project's files and its relayed status in one statement: one row per file (one row of nulls
 * when it has none), the status (a JSON object, or null) on one row only: the one numbered first,
 * not necessarily returned first.
 */
const READ_PROJECT = `SELECT CASE WHEN f.nth IS NULL OR f.nth = 1 THEN st.relayed_status END AS relayed_status, f.*
  FROM (SELECT (SELECT row_to_json(s) FROM (SELECT ${STATUS.selectList} FROM pypi_project_status WHERE project = $1) s) AS relayed_status) st
  LEFT JOIN LATERAL (SELECT ${COLUMNS.selectList}, row_number() OVER () AS nth FROM pypi_files WHERE project = $1) f ON true`;

/** Rows per statement: bounds the JSON text each statement carries. */
const UPSERT_BATCH_ROWS = 1000;

/** One statement per batch: the rows travel as one JSON array (json_to_recordset), on pg and PGlite alike. */
const UPSERT_SQL = `INSERT INTO pypi_files (${COLUMNS.insertList}, updated_at)
  SELECT ${COLUMNS.insertList}, now() FROM json_to_recordset($1::json) AS r(${COLUMNS.recordset})
  ON CONFLICT (sha256) DO UPDATE SET
    display_name = EXCLUDED.display_name,
    -- The stored bytes' size wins; an unknown size (0) never hides a known one.
    size = CASE WHEN EXCLUDED.stored OR pypi_files.size = 0 THEN EXCLUDED.size ELSE pypi_files.size END,
    requires_python = COALESCE(EXCLUDED.requires_python, pypi_files.requires_python),
    upload_time = COALESCE(pypi_files.upload_time, EXCLUDED.upload_time),
    yanked = EXCLUDED.yanked,
    metadata_sha256 = COALESCE(EXCLUDED.metadata_sha256, pypi_files.metadata_sha256),
    stored = pypi_files.stored OR EXCLUDED.stored,
    metadata_stored = pypi_files.metadata_stored OR EXCLUDED.metadata_stored,
    source_url = COALESCE(EXCLUDED.source_url, pypi_files.source_url),
    updated_at = now()`;

/**
 * Statement-sized batches. A sha256 given twice goes to separate batches (in order): PostgreSQL
 * refuses to update one row twice in a statement, and row by row the later one applied on top.
 */
function* upsertBatches(files: readonly PypiFile[]): Generator<PypiFile[]> {
  let batch: PypiFile[] = [];
  let shas = new Set<string>();
  for (const f of files) {
    if (batch.length && (batch.length >= UPSERT_BATCH_ROWS || shas.has(f.sha256))) {
      yield batch;
      batch = [];
      shas = new Set();
    }
    batch.push(f);
    shas.add(f.sha256);
  }
  if (batch.length) yield batch;
}

const STORED = 1;
const METADATA_STORED = 2;
const URL_ENDS_WITH_FILENAME = 4;

/**
 * A file as the catalog holds it in memory, for every replica's whole catalog: digests packed to
 * their bytes, times as epoch milliseconds, the source URL without the file name it ends with
 * (catalog/compact.ts). The PypiFile fields are getters that give back exactly what was read;
 * records are read-only (a change is an upsert, then a reload). Its own fields are not the
 * PypiFile's: copy one with plainPypiFile, not with a spread.
 */
class CatalogFile implements PypiFile {
  readonly project: string;
  readonly displayName: string;
  readonly version: string;
  readonly filename: string;
  readonly size: number;
  readonly requiresPython: string | null;
  readonly yanked: string | null;
  readonly source: string;
  /** packDigest(sha256); also the catalog's key for the file. */
  readonly packedSha256: string;
  private readonly packedMetadataSha256: string | null;
  private readonly uploadMs: number | null;
  private readonly firstSeenMs: number | null;
  private readonly url: string | null;
  private readonly flags: number;

  constructor(f: PypiFile, intern: (s: string) => string) {
    this.project = f.project;
    this.displayName = f.displayName;
    this.version = f.version;
    this.filename = f.filename;
    this.size = f.size;
    this.requiresPython = f.requiresPython;
    this.yanked = f.yanked;
    this.source = f.source;
    this.packedSha256 = packDigest(f.sha256);
    this.packedMetadataSha256 = f.metadataSha256 === null ? null : packDigest(f.metadataSha256);
    this.uploadMs = packTime(f.uploadTime);
    this.firstSeenMs = packTime(f.firstSeen);
    const url = packUrl(f.sourceUrl, f.filename, intern);
    this.url = url.kept;
    this.flags = (f.stored ? STORED : 0) | (f.metadataStored ? METADATA_STORED : 0) | (url.endsWithName ? URL_ENDS_WITH_FILENAME : 0);
  }

  get sha256(): string {
    return unpackDigest(this.packedSha256);
  }

  get metadataSha256(): string | null {
    return this.packedMetadataSha256 === null ? null : unpackDigest(this.packedMetadataSha256);
  }

  get uploadTime(): Date | null {
    return unpackTime(this.uploadMs);
  }

  get firstSeen(): Date | undefined {
    return unpackTime(this.firstSeenMs) ?? undefined;
  }

  get stored(): boolean {
    return (this.flags & STORED) !== 0;
  }

  get metadataStored(): boolean {
    return (this.flags & METADATA_STORED) !== 0;
  }

  get sourceUrl(): string | null {
    return unpackUrl(this.url, (this.flags & URL_ENDS_WITH_FILENAME) !== 0, this.filename);
  }
}

/** A plain copy of a file record (the catalog's own are compact, read-only objects whose fields are getters). */
export function plainPypiFile(f: PypiFile): PypiFile {
  const firstSeen = f.firstSeen;
  return {
    sha256: f.sha256,
    project: f.project,
    displayName: f.displayName,
    version: f.version,
    filename: f.filename,
    size: f.size,
    requiresPython: f.requiresPython,
    uploadTime: f.uploadTime,
    yanked: f.yanked,
    metadataSha256: f.metadataSha256,
    stored: f.stored,
    metadataStored: f.metadataStored,
    source: f.source,
    sourceUrl: f.sourceUrl,
    ...(firstSeen ? { firstSeen } : {}),
  };
}

export class PypiCatalog extends ReplicatedCatalog<[project: string]> {
  private readonly projects = new Map<string, PypiProject & { files: CatalogFile[] }>();
  private readonly statuses = new Map<string, RelayedStatus>();
  /** Keyed by packDigest(sha256). */
  private readonly bySha = new Map<string, CatalogFile>();

  /** `reloads` retries reloads that fail after a notification (shared by the runtime's catalogs). */
  constructor(db: Db, reloads?: CatalogReloads) {
    super(db, 'pypi', SINGLE_NAME, reloads);
  }

  /**
   * Reads every project again (after notifications may have been missed), all in one snapshot
   * (readSnapshot): read at different moments, a status could be installed beside files it was
   * never committed with until the notified keys are re-read. RELOAD_CHUNK projects per query,
   * installed as each chunk comes: holding every row of a 300,000-file catalog at once next to the
   * catalog itself costs several times the catalog's own memory, and the heap keeps that peak as
   * resident. A project gone from the database (no file, no status) is removed.
   */
  async reloadAll(): Promise<void> {
    await readSnapshot(this.db, async (q) => {
      const statuses = new Map<string, RelayedStatus>();
      for (const r of await q.query(`SELECT ${STATUS.selectList} FROM pypi_project_status`))
        statuses.set(String(r.project), fromStatusRow(r));
      const names = (await q.query<{ project: string }>('SELECT DISTINCT project FROM pypi_files ORDER BY project')).map((r) => r.project);
      this.statuses.clear();
      for (const [name, status] of statuses) this.statuses.set(name, status);
      const withFiles = new Set(names);
      for (const name of [...this.projects.keys()]) if (!withFiles.has(name) && !statuses.has(name)) this.install(name, []);
      for (const name of statuses.keys()) if (!withFiles.has(name)) this.install(name, []);
      for (let i = 0; i < names.length; i += RELOAD_CHUNK) await this.installChunk(q, names.slice(i, i + RELOAD_CHUNK));
    });
  }

  /** Reads and installs the files of some projects (each has at least one). */
  private async installChunk(q: Queryable, names: string[]): Promise<void> {
    const rows = await q.query(`SELECT ${COLUMNS.selectList} FROM pypi_files WHERE project = ANY($1::text[])`, [names]);
    const grouped = new Map<string, CatalogFile[]>();
    const intern = interner();
    for (const r of rows) {
      const f = new CatalogFile(COLUMNS.fromRow(r, intern), intern);
      const list = grouped.get(f.project) ?? [];
      list.push(f);
      grouped.set(f.project, list);
    }
    for (const [name, files] of grouped) this.install(name, files);
  }

  private install(name: string, files: CatalogFile[]): void {
    const old = this.projects.get(name);
    for (const f of old?.files ?? []) this.bySha.delete(f.packedSha256);
    const status = this.statuses.get(name);
    if (files.length === 0 && !status) {
      this.projects.delete(name);
    } else {
      files.sort((a, b) => compareVersions(a.version, b.version) || (a.filename < b.filename ? -1 : 1));
      // The display name of the newest file wins (projects occasionally change capitalisation).
      const displayName = files[files.length - 1]?.displayName ?? name;
      this.projects.set(name, { name, displayName, files, serial: this.nextSerial(), ...(status ? { upstreamStatus: status } : {}) });
      for (const f of files) this.bySha.set(f.packedSha256, f);
    }
    this.notifyListeners(name);
  }

  /**
   * Reads one project from the database (through reload(): after a local write or a notification),
   * its files and its relayed status in one statement (one snapshot: read in two, a commit between
   * them could install a status beside files it was never committed with).
   */
  protected async load(project: string): Promise<void> {
    const rows = await this.db.query<Record<string, unknown> & { relayed_status: Record<string, unknown> | null }>(READ_PROJECT, [project]);
    // On one row, not necessarily the first returned.
    const status = rows.find((r) => r.relayed_status !== null)?.relayed_status;
    if (status) this.statuses.set(project, fromStatusRow(status));
    else this.statuses.delete(project);
    const intern = interner();
    this.install(
      project,
      rows.filter((r) => r.sha256 !== null).map((r) => new CatalogFile(COLUMNS.fromRow(r, intern), intern)),
    );
  }

  project(name: string): PypiProject | undefined {
    return this.projects.get(name);
  }

  file(sha256: string): PypiFile | undefined {
    return this.bySha.get(packDigest(sha256));
  }

  projectNames(): IterableIterator<string> {
    return this.projects.keys();
  }

  get size(): number {
    return this.projects.size;
  }

  /**
   * Inserts or updates file records. An existing record keeps its identity (sha256); a stored
   * file is never downgraded to upstream-only. Publishes the change to every replica: inside the
   * caller's transaction `q` at its COMMIT; without one (the catalog's own database is none), in
   * a transaction of its own that tells the others at COMMIT, this catalog holding the files
   * when it returns.
   */
  async upsert(files: PypiFile[], q?: Queryable): Promise<void> {
    if (q && q !== this.db) {
      await this.changed(await this.writeFiles(files, q), q);
      return;
    }
    await this.writeAndReload(new Set(files.map((f) => f.project)), (tx) => this.writeFiles(files, tx));
  }

  /** Writes file records in statement-sized batches; the projects they belong to. */
  private async writeFiles(files: readonly PypiFile[], q: Queryable): Promise<Set<string>> {
    const projects = new Set<string>();
    for (const batch of upsertBatches(files)) {
      await q.query(UPSERT_SQL, [JSON.stringify(batch.map((f) => COLUMNS.toJsonRow(f)))]);
      for (const f of batch) projects.add(f.project);
    }
    return projects;
  }

  /**
   * Records the PEP 792 status the upstream gave a project (undefined = active: the row goes).
   * Writes and tells every replica (at COMMIT) only when it changed, so a sync of an unchanged
   * index is quiet.
   */
  async setUpstreamStatus(
    project: string,
    status: { status: RelayedStatus['status']; reason?: string } | undefined,
    upstream: string,
  ): Promise<void> {
    const old = this.statuses.get(project);
    if (!status && !old) return;
    if (status && old && old.status === status.status && old.reason === (status.reason ?? null) && old.upstream === upstream) return;
    await this.writeAndReload([project], async (q) => {
      if (status) {
        const row = STATUS.toJsonRow({ project, status: status.status, reason: status.reason ?? null, upstream });
        await q.query(
          `INSERT INTO pypi_project_status (${STATUS.insertList}) VALUES ($1, $2, $3, $4)
           ON CONFLICT (project) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, upstream = EXCLUDED.upstream, updated_at = now()`,
          Object.values(row),
        );
      } else {
        await q.query('DELETE FROM pypi_project_status WHERE project = $1', [project]);
      }
    });
  }

  /** Files with the given name in a project (to detect an upstream that changed a file's bytes). */
  fileByName(project: string, filename: string): PypiFile | undefined {
    return this.projects.get(project)?.files.find((f) => f.filename === filename);
  }
}
