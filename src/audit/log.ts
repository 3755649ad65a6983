// The audit trail: an append-only, hash-chained log in PostgreSQL. Each record's hash covers
// the previous record's hash and the record itself as canonical JSON (RFC 8785, via the
// `canonicalize` package), so changing, removing or reordering a record breaks the chain
// from that point. Appends are serialised by a transaction-scoped advisory lock, so two
// replicas never fork the chain. The head is anchored from time to time in an append-only
// blob (an append blob under an immutability policy in production): rewriting the whole table
// into a new, self-consistent chain still fails verification against the anchors.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Db, Queryable } from '../state/db.js';
import { whereClause } from '../state/where.js';
import { BlobNotFound, type BlobStore } from '../storage/types.js';

export const GENESIS = '0'.repeat(64);
export const ANCHOR_KEY = 'audit/anchors.jsonl';
/** Advisory lock key that serialises appends (any stable bigint; "safelist audit"). */
const APPEND_LOCK = '5316973126771811';

export interface AuditEntry {
  /** Who: a user's object id, a service identity, or 'system' for jobs. */
  actor: string;
  /** What, as a dotted verb: exception.requested, policy.reloaded, sync.finished, gate.verdict … */
  action: string;
  /** What it is about: an exception id, a package, an image digest. */
  subject: string;
  /** Why and the details, as JSON (no undefined, no functions). */
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEntry> {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

interface Row {
  seq: string | number;
  at: Date | string;
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown> | string;
  prev_hash: string;
  hash: string;
}

export interface Anchor {
  seq: number;
  hash: string;
  at: string;
}

export interface VerifyProblem {
  seq: number;
  kind: 'changed' | 'missing' | 'broken-link' | 'anchor-mismatch' | 'truncated';
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  head: { seq: number; hash: string } | undefined;
  anchors: number;
  problems: VerifyProblem[];
}

/** The hash of a record: sha256 over the previous hash and the record's canonical JSON. */
export function recordHash(
  prevHash: string,
  r: { seq: number; at: string; actor: string; action: string; subject: string; detail: Record<string, unknown> },
): string {
  const body = canonicalize({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, detail: r.detail });
  if (body === undefined) throw new Error('audit record is not serialisable');
  return createHash('sha256').update(`${prevHash}\n${body}`).digest('hex');
}

function fromRow(r: Row): AuditRecord {
  return {
    seq: Number(r.seq),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** JSON that PostgreSQL's jsonb keeps exactly (no NUL characters, finite numbers only). */
function checkDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(detail);
  if (text.includes('\\u0000')) throw new Error('audit detail must not contain NUL characters');
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * Appends one record inside the caller's transaction (so the audited change and its record
 * commit together) or in its own. Resolves with the record as chained.
 */
export async function appendAudit(q: Queryable | Db, entry: AuditEntry): Promise<AuditRecord> {
  const run = async (t: Queryable): Promise<AuditRecord> => {
    await t.query('SELECT pg_advisory_xact_lock($1::bigint)', [APPEND_LOCK]);
    const [last] = await t.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const seq = last ? Number(last.seq) + 1 : 1;
    const prevHash = last?.hash ?? GENESIS;
    const record = {
      seq,
      at: new Date().toISOString(),
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject,
      detail: checkDetail(entry.detail ?? {}),
    };
    const hash = recordHash(prevHash, record);
    await t.query(
      'INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)',
      [seq, record.at, record.actor, record.action, record.subject, JSON.stringify(record.detail), prevHash, hash],
    );
    return { ...record, prevHash, hash };
  };
  return 'tx' in q ? q.tx(run) : run(q);
}

export interface AuditQuery {
  afterSeq?: number;
  /** Only records before this one (paging backwards with newestFirst). */
  beforeSeq?: number;
  /** Newest first (the console's trail) instead of in order. */
  newestFirst?: boolean;
  since?: Date;
  until?: Date;
  actor?: string;
  action?: string;
  subject?: string;
  limit?: number;
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
  ) {}

  append(entry: AuditEntry, q?: Queryable): Promise<AuditRecord> {
    return appendAudit(q ?? this.db, entry);
  }

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const [r] = await this.db.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    return r ? { seq: Number(r.seq), hash: r.hash } : undefined;
  }

  /** Records in order, filtered; at most `limit` (default 100, max 1000) per call. */
  async query(f: AuditQuery = {}): Promise<AuditRecord[]> {
    const where = whereClause([
      ['seq > ?', f.afterSeq],
      ['seq < ?', f.beforeSeq],
      ['at >= ?', f.since],
      ['at < ?', f.until],
      ['actor = ?', f.actor],
      ['action = ?', f.action],
      ['subject = ?', f.subject],
    ]);
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const rows = await this.db.query<Row>(
      `SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ${where.sql} ORDER BY seq ${f.newestFirst ? 'DESC' : ''} LIMIT ${limit}`,
      where.params,
    );
    return rows.map(fromRow);
  }

  /** The newest record of an action about a subject (e.g. the last `sync.finished` of pypi). */
  async latest(action: string, subject: string): Promise<AuditRecord | undefined> {
    const [row] = await this.db.query<Row>(
      'SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY seq DESC LIMIT 1',
      [action, subject],
    );
    return row ? fromRow(row) : undefined;
  }

  /** Every matching record, in order, in pages (for JSON Lines export). */
  async *records(f: Omit<AuditQuery, 'limit'> = {}): AsyncIterable<AuditRecord> {
    let after = f.afterSeq ?? 0;
    for (;;) {
      const page = await this.query({ ...f, newestFirst: false, afterSeq: after, limit: 1000 });
      for (const r of page) yield r;
      if (page.length < 1000) return;
      after = page[page.length - 1]!.seq;
    }
  }

  /** The export (API, CLI, console): every matching record, in order, one JSON line each. */
  async *exportLines(f: Omit<AuditQuery, 'limit'> = {}): AsyncIterable<string> {
    for await (const r of this.records(f)) yield `${JSON.stringify(r)}\n`;
  }

  /** Appends the current head to the anchor log, unless it is already the last anchor. */
  async anchor(): Promise<Anchor | undefined> {
    const head = await this.head();
    if (!head) return undefined;
    const anchors = await this.anchors();
    const last = anchors[anchors.length - 1];
    if (last && last.seq === head.seq && last.hash === head.hash) return undefined;
    const a: Anchor = { seq: head.seq, hash: head.hash, at: new Date().toISOString() };
    await this.store.append(ANCHOR_KEY, Buffer.from(`${JSON.stringify(a)}\n`));
    return a;
  }

  async anchors(): Promise<Anchor[]> {
    let text: string;
    try {
      const chunks: Buffer[] = [];
      for await (const c of await this.store.get(ANCHOR_KEY)) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (err instanceof BlobNotFound) return [];
      throw err;
    }
    const out: Anchor[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const a = JSON.parse(line) as Anchor;
        if (Number.isSafeInteger(a.seq) && typeof a.hash === 'string') out.push(a);
      } catch {
        // A torn last line (crash mid-append) is ignored; every whole line still counts.
      }
    }
    return out;
  }

  /**
   * Recomputes the whole chain and checks it against the anchors; names every break.
   * onProgress hears how many records were checked of how many there were at the start
   * (at the start, after every page of 1000, and at the end).
   */
  async verify(onProgress?: (checked: number, total: number) => void): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    const [{ n } = { n: 0 }] = await this.db.query<{ n: string | number }>('SELECT count(*) AS n FROM audit_log');
    const total = Number(n);
    onProgress?.(0, total);
    const anchors = await this.anchors();
    const anchorAt = new Map(anchors.map((a) => [a.seq, a]));
    let prev: { seq: number; hash: string } | undefined;
    let records = 0;
    for await (const r of this.records()) {
      records++;
      if (records % 1000 === 0) onProgress?.(records, Math.max(total, records));
      const expectedSeq = (prev?.seq ?? 0) + 1;
      if (r.seq !== expectedSeq) {
        problems.push({
          seq: expectedSeq,
          kind: 'missing',
          message:
            r.seq - expectedSeq === 1
              ? `record ${expectedSeq} is missing (deleted)`
              : `records ${expectedSeq} to ${r.seq - 1} are missing (deleted)`,
        });
      }
      const expectedPrev = prev?.hash ?? GENESIS;
      if (r.prevHash !== expectedPrev) {
        problems.push({
          seq: r.seq,
          kind: 'broken-link',
          message: `record ${r.seq} does not follow record ${prev?.seq ?? 0}: its prev_hash is not that record's hash (records removed, replaced or reordered)`,
        });
      }
      const actual = recordHash(r.prevHash, r);
      if (actual !== r.hash) {
        problems.push({
          seq: r.seq,
          kind: 'changed',
          message: `record ${r.seq} (${r.action} ${r.subject} by ${r.actor}) was changed after it was written: its content no longer matches its hash`,
        });
      }
      const a = anchorAt.get(r.seq);
      if (a && a.hash !== r.hash) {
        problems.push({
          seq: r.seq,
          kind: 'anchor-mismatch',
          message: `record ${r.seq} does not match the hash anchored at ${a.at}: the log was rewritten`,
        });
      }
      prev = { seq: r.seq, hash: r.hash };
    }
    const lastAnchor = anchors[anchors.length - 1];
    if (lastAnchor && (prev?.seq ?? 0) < lastAnchor.seq) {
      problems.push({
        seq: lastAnchor.seq,
        kind: 'truncated',
        message: `the log ends at record ${prev?.seq ?? 0}, but record ${lastAnchor.seq} was anchored at ${lastAnchor.at}: records were removed from the end`,
      });
    }
    onProgress?.(records, Math.max(total, records));
    return { ok: problems.length === 0, records, head: prev, anchors: anchors.length, problems };
  }
}
