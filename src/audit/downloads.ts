// The download log: who pulled which file (view, ecosystem, name, version, sha256, identity,
// client address, time), for incidents ("who pulled the malicious version?"). Written off the
// request path: record() only appends to a bounded in-memory buffer; a timer (or a full batch)
// writes the buffer with one multi-row INSERT. It must never block or slow a response: when
// the buffer is full a record is dropped and counted (the caller exports the count), and a
// failed flush is logged and counted too, never retried forever nor thrown at the read path.
import type { Db, Queryable } from '../state/db.js';

export interface DownloadRecord {
  view: string;
  ecosystem: string;
  name: string;
  version: string;
  sha256: string;
  /** The token's identity when package reads are authenticated; null when anonymous. */
  identity: { oid: string; name: string } | null;
  client: string | null;
  at: Date;
}

export interface DownloadLogOptions {
  bufferSize: number;
  batchSize: number;
  flushIntervalMs: number;
  /** Called with how many records were lost (buffer full, or a failed write). */
  onDropped: (n: number, why: 'overflow' | 'write-failed') => void;
  log: { error(obj: object, msg: string): void };
}

const INSERT_SQL = `INSERT INTO download_log (at, view, ecosystem, name, version, sha256, identity_oid, identity_name, client)
  SELECT at, view, ecosystem, name, version, sha256, identity_oid, identity_name, client FROM json_to_recordset($1::json) AS r(
    at timestamptz, view text, ecosystem text, name text, version text, sha256 text, identity_oid text, identity_name text, client text)`;

export class DownloadLog {
  private buffer: DownloadRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly opts: DownloadLogOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs);
    this.timer.unref();
  }

  /** Appends a record; O(1), never waits. A full buffer drops the record and counts it. */
  record(r: DownloadRecord): void {
    if (this.stopped || this.buffer.length >= this.opts.bufferSize) {
      this.opts.onDropped(1, 'overflow');
      return;
    }
    this.buffer.push(r);
    if (this.buffer.length >= this.opts.batchSize && !this.flushing) void this.flush();
  }

  /** Writes everything buffered now, batch by batch (one flush at a time). */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops taking records and writes what is buffered (the server's ordered stop). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    this.stopped = true;
    // Last chance: a failed batch stops a flush, so try the rest once more; what still cannot be
    // written is counted and logged, never dropped silently.
    await this.flush();
    await this.flush();
    if (this.buffer.length) {
      this.opts.onDropped(this.buffer.length, 'write-failed');
      this.opts.log.error({ records: this.buffer.length }, 'download log: records not written at shutdown');
      this.buffer.length = 0;
    }
  }

  private async drain(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.splice(0, this.opts.batchSize);
      try {
        await insertDownloads(this.db, batch);
      } catch (err) {
        // Nothing to retry into: the buffer may already be refilling. Lost rows are counted and logged.
        this.opts.onDropped(batch.length, 'write-failed');
        this.opts.log.error({ err, records: batch.length }, 'download log: a batch could not be written');
        return;
      }
    }
  }
}

/** One statement for a batch: the rows travel as one JSON array (json_to_recordset). */
export async function insertDownloads(q: Queryable, batch: DownloadRecord[]): Promise<void> {
  const rows = batch.map((r) => ({
    at: r.at.toISOString(),
    view: r.view,
    ecosystem: r.ecosystem,
    name: r.name,
    version: r.version,
    sha256: r.sha256,
    identity_oid: r.identity?.oid ?? null,
    identity_name: r.identity?.name ?? null,
    client: r.client,
  }));
  await q.query(INSERT_SQL, [JSON.stringify(rows)]);
}

/** Deletes the rows older than `before`; returns how many went. */
export async function pruneDownloads(q: Queryable, before: Date): Promise<number> {
  const rows = await q.query<{ n: string }>(
    'WITH gone AS (DELETE FROM download_log WHERE at < $1 RETURNING 1) SELECT count(*)::text AS n FROM gone',
    [before.toISOString()],
  );
  return Number(rows[0]?.n ?? 0);
}

export interface DownloadSummary {
  view: string;
  identity: { oid: string; name: string } | null;
  first: string;
  last: string;
  count: number;
  /** The files (sha256) this view and identity got. */
  files: string[];
}

/** Every view and identity that downloaded (ecosystem, name, version), first and last time, count. */
export async function downloadsOf(q: Queryable, ecosystem: string, name: string, version: string): Promise<DownloadSummary[]> {
  const rows = await q.query<{
    view: string;
    identity_oid: string | null;
    identity_name: string | null;
    first: Date | string;
    last: Date | string;
    count: string;
    files: string[];
  }>(
    `SELECT view, identity_oid, max(identity_name) AS identity_name, min(at) AS first, max(at) AS last, count(*)::text AS count,
            array_agg(DISTINCT sha256) AS files
       FROM download_log WHERE ecosystem = $1 AND name = $2 AND version = $3
      GROUP BY view, identity_oid ORDER BY min(at), view, identity_oid`,
    [ecosystem, name, version],
  );
  return rows.map((r) => ({
    view: r.view,
    identity: r.identity_oid ? { oid: r.identity_oid, name: r.identity_name ?? r.identity_oid } : null,
    first: new Date(r.first).toISOString(),
    last: new Date(r.last).toISOString(),
    count: Number(r.count),
    files: r.files,
  }));
}

export interface ImagePull {
  view: string;
  identity: { oid: string; name: string } | null;
  /** The repository as pulled (/v2/<repository>/manifests/…). */
  repository: string;
  first: string;
  last: string;
  count: number;
  /** What was asked for: tags and digests. */
  references: string[];
}

/** Every view and identity that pulled one of these manifests (sha256 hex) through /v2, first and last time, count. */
export async function imagePullsOf(q: Queryable, manifests: string[]): Promise<ImagePull[]> {
  if (!manifests.length) return [];
  const rows = await q.query<{
    view: string;
    identity_oid: string | null;
    identity_name: string | null;
    name: string;
    first: Date | string;
    last: Date | string;
    count: string;
    refs: string[];
  }>(
    `SELECT view, identity_oid, max(identity_name) AS identity_name, name, min(at) AS first, max(at) AS last, count(*)::text AS count,
            array_agg(DISTINCT version ORDER BY version) AS refs
       FROM download_log WHERE ecosystem = 'oci' AND sha256 = ANY($1)
      GROUP BY view, identity_oid, name ORDER BY min(at), view, identity_oid, name`,
    [manifests],
  );
  return rows.map((r) => ({
    view: r.view,
    identity: r.identity_oid ? { oid: r.identity_oid, name: r.identity_name ?? r.identity_oid } : null,
    repository: r.name,
    first: new Date(r.first).toISOString(),
    last: new Date(r.last).toISOString(),
    count: Number(r.count),
    references: r.refs,
  }));
}
