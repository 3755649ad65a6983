// The gate's state in PostgreSQL: accepted events (deduplicated by event id), the image queue
// with its verdicts, tags as reported, posted scan reports, and when each fixable finding was
// first seen (the fixDeadline clock). Every state change that
// matters is audited in the same transaction as the change itself.
import { appendAudit } from '../audit/log.js';
import type { Db } from '../state/db.js';
import type { Finding, ImageRef, Verdict } from './types.js';
import type { PushEvent } from './webhooks.js';

export type ImageState = 'queued' | 'waiting' | 'pass' | 'fail' | 'no-verdict';

export interface ImageRow extends ImageRef {
  state: ImageState;
  attempts: number;
  deadline: Date;
  reason: string | null;
  verdict: Verdict | null;
  purged: string | null;
  /** ACR: whether pulls of the digest were disabled before the purge. */
  blocked: string | null;
  firstSeen: Date;
  updatedAt: Date;
}

interface RawRow {
  registry: string; repository: string; digest: string; state: ImageState; attempts: number; deadline: Date | string;
  reason: string | null; verdict: Verdict | string | null; purged: string | null; blocked?: string | null; first_seen: Date | string; updated_at: Date | string;
}

const toRow = (r: RawRow): ImageRow => ({
  registry: r.registry, repository: r.repository, digest: r.digest, state: r.state, attempts: Number(r.attempts), deadline: new Date(r.deadline),
  reason: r.reason, verdict: typeof r.verdict === 'string' ? (JSON.parse(r.verdict) as Verdict) : r.verdict, purged: r.purged, blocked: r.blocked ?? null,
  firstSeen: new Date(r.first_seen), updatedAt: new Date(r.updated_at),
});

export class GateStore {
  constructor(private readonly db: Db, private readonly deadlineMs: number) {}

  /**
   * Records pushes from a webhook: each event id once (a retried event changes nothing), its
   * tag, and the image queued for a verdict (again, if it was decided before). Resolves with
   * the events that were new.
   */
  async recordPushes(source: 'distribution' | 'acr' | 'eventgrid' | 'reconcile', registry: string, pushes: PushEvent[], actor: string): Promise<PushEvent[]> {
    if (!pushes.length) return [];
    return this.db.tx(async (q) => {
      const fresh: PushEvent[] = [];
      for (const p of pushes) {
        const ins = await q.query('INSERT INTO gate_events (event_id, source, registry, repository, tag, digest) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING event_id', [
          p.id, source, registry, p.repository, p.tag ?? null, p.digest,
        ]);
        if (!ins.length) continue;
        fresh.push(p);
        if (p.tag) {
          await q.query(
            'INSERT INTO gate_tags (registry, repository, tag, digest) VALUES ($1, $2, $3, $4) ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()',
            [registry, p.repository, p.tag, p.digest],
          );
        }
        await q.query(
          `INSERT INTO gate_images (registry, repository, digest, state, deadline) VALUES ($1, $2, $3, 'queued', now() + $4 * interval '1 millisecond')
           ON CONFLICT (registry, repository, digest) DO UPDATE SET state = 'queued', attempts = 0, next_at = now(), lease_until = NULL, reason = NULL,
             deadline = EXCLUDED.deadline, updated_at = now()
           WHERE gate_images.state NOT IN ('queued', 'waiting')`,
          [registry, p.repository, p.digest, this.deadlineMs],
        );
        await appendAudit(q, { actor, action: 'gate.received', subject: `${registry}/${p.repository}@${p.digest}`, detail: { source, eventId: p.id, registry, repository: p.repository, tag: p.tag ?? null, digest: p.digest } });
      }
      return fresh;
    });
  }

  /** Stores a scan report's findings for a digest; images waiting for it become due now. */
  async addReport(digest: string, format: string, findings: Finding[], actor: string): Promise<number> {
    return this.db.tx(async (q) => {
      const [row] = await q.query<{ id: string }>('INSERT INTO gate_reports (digest, format, findings, posted_by) VALUES ($1, $2, $3::jsonb, $4) RETURNING id', [digest, format, JSON.stringify(findings), actor]);
      await q.query("UPDATE gate_images SET next_at = now() WHERE digest = $1 AND state IN ('queued', 'waiting')", [digest]);
      await appendAudit(q, { actor, action: 'gate.report-received', subject: digest, detail: { format, findings: findings.length } });
      return Number(row!.id);
    });
  }

  /**
   * The findings with fixSeenAt: when the gate first saw each (id, package, fixed version) as
   * fixable, in any image. The first sighting is recorded here, once; later ones read it back.
   */
  async withFixSeen(findings: Finding[]): Promise<Finding[]> {
    const keyOf = (f: Finding) => [f.id.toUpperCase(), f.package, f.fixedVersion ?? ''] as const;
    const keys = new Map<string, readonly [string, string, string]>();
    for (const f of findings) if (f.fixable && !f.breach) keys.set(JSON.stringify(keyOf(f)), keyOf(f));
    if (!keys.size) return findings;
    const cols = [0, 1, 2].map((i) => [...keys.values()].map((k) => k[i]!));
    const rows = await this.db.tx(async (q) => {
      await q.query('INSERT INTO gate_fix_seen (vuln_id, package, fixed_version) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', cols);
      return q.query<{ vuln_id: string; package: string; fixed_version: string; first_seen: Date | string }>(
        'SELECT s.vuln_id, s.package, s.fixed_version, s.first_seen FROM gate_fix_seen s JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (vuln_id, package, fixed_version) USING (vuln_id, package, fixed_version)',
        cols,
      );
    });
    const seen = new Map(rows.map((r) => [JSON.stringify([r.vuln_id, r.package, r.fixed_version]), new Date(r.first_seen).toISOString()]));
    return findings.map((f) => {
      const at = f.fixable && !f.breach ? seen.get(JSON.stringify(keyOf(f))) : undefined;
      return at ? { ...f, fixSeenAt: at } : f;
    });
  }

  /** Takes up to `limit` due images under a lease, so replicas never judge one image twice at once. */
  async claimDue(limit: number, leaseMs: number): Promise<ImageRow[]> {
    const rows = await this.db.query<RawRow>(
      `UPDATE gate_images g SET lease_until = now() + $2 * interval '1 millisecond', attempts = g.attempts + 1
       FROM (SELECT registry, repository, digest FROM gate_images
             WHERE state IN ('queued', 'waiting') AND next_at <= now() AND (lease_until IS NULL OR lease_until < now())
             ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED) d
       WHERE g.registry = d.registry AND g.repository = d.repository AND g.digest = d.digest
       RETURNING g.*`,
      [limit, leaseMs],
    );
    return rows.map(toRow);
  }

  /** Not decided yet: ask again after `waitMs`. */
  async wait(img: ImageRef, waitMs: number, reason: string): Promise<void> {
    await this.db.query(
      "UPDATE gate_images SET state = 'waiting', next_at = now() + $4 * interval '1 millisecond', lease_until = NULL, reason = $5, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3",
      [img.registry, img.repository, img.digest, waitMs, reason],
    );
  }

  /** Records the verdict (and audits it) in one transaction. */
  async decide(v: Verdict): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        'UPDATE gate_images SET state = $4, verdict = $5::jsonb, reason = $6, lease_until = NULL, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3',
        [v.registry, v.repository, v.digest, v.outcome, JSON.stringify(v), v.reasons.join('; ')],
      );
      await appendAudit(q, {
        actor: 'system',
        action: 'gate.verdict',
        subject: `${v.registry}/${v.repository}@${v.digest}`,
        detail: {
          outcome: v.outcome, reportOnly: v.reportOnly, reasons: v.reasons,
          failures: v.failures.map((f) => ({ id: f.finding.id, severity: f.finding.severity, package: f.finding.package, rule: f.rule })),
          exempted: v.exempted.map((e) => ({ id: e.finding.id, owner: e.exception.owner, expires: e.exception.expires })),
        },
      });
    });
  }

  /** Records what happened to a failing image in the registry, audited. */
  async recordPurge(img: ImageRef, outcome: 'purged' | 'failed', detail: Record<string, unknown>): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query('UPDATE gate_images SET purged = $4, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3', [img.registry, img.repository, img.digest, outcome]);
      await appendAudit(q, { actor: 'system', action: outcome === 'purged' ? 'gate.purged' : 'gate.purge-failed', subject: `${img.registry}/${img.repository}@${img.digest}`, detail });
    });
  }

  /** Records the block step (ACR readEnabled=false) of a failing image, audited. */
  async recordBlock(img: ImageRef, outcome: 'blocked' | 'failed', detail: Record<string, unknown>): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query('UPDATE gate_images SET blocked = $4, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3', [img.registry, img.repository, img.digest, outcome]);
      await appendAudit(q, { actor: 'system', action: outcome === 'blocked' ? 'gate.blocked' : 'gate.block-failed', subject: `${img.registry}/${img.repository}@${img.digest}`, detail });
    });
  }

  /** The newest image record for a digest (any repository, or the one named). */
  async byDigest(digest: string, repository?: string, registry?: string): Promise<ImageRow | undefined> {
    const [r] = await this.db.query<RawRow>(
      'SELECT * FROM gate_images WHERE digest = $1 AND ($2::text IS NULL OR repository = $2) AND ($3::text IS NULL OR registry = $3) ORDER BY updated_at DESC LIMIT 1',
      [digest, repository ?? null, registry ?? null],
    );
    return r ? toRow(r) : undefined;
  }

  /** The digest a tag pointed at when it was last pushed. */
  async digestOfTag(repository: string, tag: string, registry?: string): Promise<{ registry: string; digest: string } | undefined> {
    const [r] = await this.db.query<{ registry: string; digest: string }>(
      'SELECT registry, digest FROM gate_tags WHERE repository = $1 AND tag = $2 AND ($3::text IS NULL OR registry = $3) ORDER BY updated_at DESC LIMIT 1',
      [repository, tag, registry ?? null],
    );
    return r;
  }
}
