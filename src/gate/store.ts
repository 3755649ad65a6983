// The gate's state in PostgreSQL: accepted events (deduplicated by event id), the image queue
// with its verdicts, tags as reported, posted scan reports, and when each fixable finding was
// first seen (the fixDeadline clock). Every state change that
// matters is audited in the same transaction as the change itself.
// An image row is either undecided (queued, waiting: no verdict) or decided (pass, fail,
// no-verdict: the verdict with that outcome); a CHECK constraint keeps it so (migration 0310).
// A posted report never goes unread: it makes waiting images due now, bumps their generation
// so a pass already under way does not write back its backoff or a verdict drawn without it,
// and queues images that passed or got no verdict to be judged again.
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
  /** Bumped by each posted report; a claim remembers it (see wait and decide). */
  generation: number;
}

interface RawRow {
  registry: string;
  repository: string;
  digest: string;
  state: ImageState;
  attempts: number;
  deadline: Date | string;
  reason: string | null;
  verdict: Verdict | string | null;
  purged: string | null;
  blocked?: string | null;
  first_seen: Date | string;
  updated_at: Date | string;
  generation?: number;
}

const toRow = (r: RawRow): ImageRow => ({
  registry: r.registry,
  repository: r.repository,
  digest: r.digest,
  state: r.state,
  attempts: Number(r.attempts),
  deadline: new Date(r.deadline),
  reason: r.reason,
  verdict: typeof r.verdict === 'string' ? (JSON.parse(r.verdict) as Verdict) : r.verdict,
  purged: r.purged,
  blocked: r.blocked ?? null,
  firstSeen: new Date(r.first_seen),
  updatedAt: new Date(r.updated_at),
  generation: Number(r.generation ?? 0),
});

export class GateStore {
  constructor(
    private readonly db: Db,
    private readonly deadlineMs: number,
  ) {}

  /**
   * Records pushes from a webhook: each event id once (a retried event changes nothing), its
   * tag, and the image queued for a verdict (again, if it was decided before). Resolves with
   * the events that were new.
   */
  async recordPushes(
    source: 'distribution' | 'acr' | 'eventgrid' | 'reconcile',
    registry: string,
    pushes: PushEvent[],
    actor: string,
  ): Promise<PushEvent[]> {
    if (!pushes.length) return [];
    return this.db.tx(async (q) => {
      const fresh: PushEvent[] = [];
      for (const p of pushes) {
        const ins = await q.query(
          'INSERT INTO gate_events (event_id, source, registry, repository, tag, digest) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING event_id',
          [p.id, source, registry, p.repository, p.tag ?? null, p.digest],
        );
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
             verdict = NULL, purged = NULL, blocked = NULL, generation = gate_images.generation + 1, deadline = EXCLUDED.deadline, updated_at = now()
           WHERE gate_images.state NOT IN ('queued', 'waiting')`,
          [registry, p.repository, p.digest, this.deadlineMs],
        );
        await appendAudit(q, {
          actor,
          action: 'gate.received',
          subject: `${registry}/${p.repository}@${p.digest}`,
          detail: { source, eventId: p.id, registry, repository: p.repository, tag: p.tag ?? null, digest: p.digest },
        });
      }
      return fresh;
    });
  }

  /**
   * Stores a scan report's findings for a digest. Images waiting for it become due now (and a
   * pass already under way learns of it through the generation); images that passed or got no
   * verdict are queued to be judged again, audited as gate.requeued. A failed image stays failed
   * (its enforcement already ran; a new push of the digest judges it again).
   */
  async addReport(digest: string, format: string, findings: Finding[], actor: string): Promise<{ id: number; requeued: ImageRef[] }> {
    return this.db.tx(async (q) => {
      const [row] = await q.query<{ id: string }>(
        'INSERT INTO gate_reports (digest, format, findings, posted_by) VALUES ($1, $2, $3::jsonb, $4) RETURNING id',
        [digest, format, JSON.stringify(findings), actor],
      );
      const id = Number(row!.id);
      await q.query(
        "UPDATE gate_images SET next_at = now(), generation = generation + 1 WHERE digest = $1 AND state IN ('queued', 'waiting')",
        [digest],
      );
      const requeued = await q.query<ImageRef & { previous: string; decided_at: string | null }>(
        `WITH old AS (SELECT registry, repository, digest, state, verdict->>'decidedAt' AS decided_at FROM gate_images
                      WHERE digest = $1 AND state IN ('pass', 'no-verdict') FOR UPDATE)
         UPDATE gate_images g SET state = 'queued', verdict = NULL, purged = NULL, blocked = NULL, attempts = 0, next_at = now(), lease_until = NULL,
           reason = 'a new scan report arrived after the verdict ' || old.state || '; judging again', generation = g.generation + 1,
           deadline = now() + $2 * interval '1 millisecond', updated_at = now()
         FROM old WHERE g.registry = old.registry AND g.repository = old.repository AND g.digest = old.digest
         RETURNING g.registry, g.repository, g.digest, old.state AS previous, old.decided_at`,
        [digest, this.deadlineMs],
      );
      await appendAudit(q, { actor, action: 'gate.report-received', subject: digest, detail: { format, findings: findings.length } });
      for (const r of requeued) {
        await appendAudit(q, {
          actor,
          action: 'gate.requeued',
          subject: `${r.registry}/${r.repository}@${r.digest}`,
          detail: { cause: 'report', reportId: id, previous: r.previous, decidedAt: r.decided_at },
        });
      }
      return { id, requeued: requeued.map((r) => ({ registry: r.registry, repository: r.repository, digest: r.digest })) };
    });
  }

  /**
   * Queues images that passed (or got no verdict) to be judged again, e.g. when a package they
   * contain turned out to be malicious; each is audited as gate.requeued with the cause. A failed
   * image stays failed. Resolves with the images actually requeued.
   */
  async requeue(images: ImageRef[], actor: string, detail: Record<string, unknown>): Promise<ImageRef[]> {
    if (!images.length) return [];
    return this.db.tx(async (q) => {
      const requeued = await q.query<ImageRef & { previous: string; decided_at: string | null }>(
        `WITH want AS (SELECT * FROM json_to_recordset($1::json) AS w(registry text, repository text, digest text)),
              old AS (SELECT g.registry, g.repository, g.digest, g.state, g.verdict->>'decidedAt' AS decided_at FROM gate_images g
                      JOIN want w USING (registry, repository, digest) WHERE g.state IN ('pass', 'no-verdict') FOR UPDATE OF g)
         UPDATE gate_images g SET state = 'queued', verdict = NULL, purged = NULL, blocked = NULL, attempts = 0, next_at = now(), lease_until = NULL,
           reason = 'judging again: ' || $3, generation = g.generation + 1,
           deadline = now() + $2 * interval '1 millisecond', updated_at = now()
         FROM old WHERE g.registry = old.registry AND g.repository = old.repository AND g.digest = old.digest
         RETURNING g.registry, g.repository, g.digest, old.state AS previous, old.decided_at`,
        [
          JSON.stringify(images.map((i) => ({ registry: i.registry, repository: i.repository, digest: i.digest }))),
          this.deadlineMs,
          String(detail.cause ?? 'requeued'),
        ],
      );
      for (const r of requeued) {
        await appendAudit(q, {
          actor,
          action: 'gate.requeued',
          subject: `${r.registry}/${r.repository}@${r.digest}`,
          detail: { ...detail, previous: r.previous, decidedAt: r.decided_at },
        });
      }
      return requeued.map((r) => ({ registry: r.registry, repository: r.repository, digest: r.digest }));
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
      await q.query(
        'INSERT INTO gate_fix_seen (vuln_id, package, fixed_version) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING',
        cols,
      );
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

  /**
   * Not decided yet: ask again after `waitMs`, or at once when a report arrived since the claim
   * (the generation moved). Resolves true when the image is due again now.
   */
  async wait(img: ImageRow, waitMs: number, reason: string): Promise<boolean> {
    // attempts fences the lease: once it expired and another replica claimed the image, this
    // pass no longer owns it and writes nothing.
    const [r] = await this.db.query<{ woken: boolean }>(
      `UPDATE gate_images SET state = 'waiting', next_at = CASE WHEN generation = $6 THEN now() + $4 * interval '1 millisecond' ELSE now() END,
         lease_until = NULL, reason = $5, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3 AND attempts = $7
       RETURNING generation <> $6 AS woken`,
      [img.registry, img.repository, img.digest, waitMs, reason, img.generation, img.attempts],
    );
    return r?.woken === true;
  }

  /**
   * Records the verdict (and audits it) in one transaction, unless a report arrived since the
   * claim (the generation moved): then nothing is recorded, the image is due again at once,
   * and this resolves false. Also false, with nothing written, when the lease ran out and another
   * replica claimed the image since (attempts moved).
   */
  async decide(v: Verdict, claim: { generation: number; attempts: number }): Promise<boolean> {
    return this.db.tx(async (q) => {
      // attempts fences the lease (a replica whose lease ran out and was taken records nothing).
      const updated = await q.query(
        'UPDATE gate_images SET state = $4, verdict = $5::jsonb, reason = $6, lease_until = NULL, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3 AND generation = $7 AND attempts = $8 RETURNING digest',
        [v.registry, v.repository, v.digest, v.outcome, JSON.stringify(v), v.reasons.join('; '), claim.generation, claim.attempts],
      );
      if (!updated.length) {
        await q.query(
          'UPDATE gate_images SET next_at = now(), lease_until = NULL WHERE registry = $1 AND repository = $2 AND digest = $3 AND attempts = $4',
          [v.registry, v.repository, v.digest, claim.attempts],
        );
        return false;
      }
      await appendAudit(q, {
        actor: 'system',
        action: 'gate.verdict',
        subject: `${v.registry}/${v.repository}@${v.digest}`,
        detail: {
          outcome: v.outcome,
          reportOnly: v.reportOnly,
          reasons: v.reasons,
          failures: v.failures.map((f) => ({ id: f.finding.id, severity: f.finding.severity, package: f.finding.package, rule: f.rule })),
          exempted: v.exempted.map((e) => ({ id: e.finding.id, owner: e.exception.owner, expires: e.exception.expires })),
        },
      });
      return true;
    });
  }

  /** Records what happened to a failing image in the registry, audited. */
  recordPurge(img: ImageRef, outcome: 'purged' | 'failed', detail: Record<string, unknown>): Promise<void> {
    return this.recordEnforcement(img, 'purged', outcome, outcome === 'purged' ? 'gate.purged' : 'gate.purge-failed', detail);
  }

  /** Records the block step (ACR readEnabled=false) of a failing image, audited. */
  recordBlock(img: ImageRef, outcome: 'blocked' | 'failed', detail: Record<string, unknown>): Promise<void> {
    return this.recordEnforcement(img, 'blocked', outcome, outcome === 'blocked' ? 'gate.blocked' : 'gate.block-failed', detail);
  }

  /** One enforcement step's outcome in its column, and its audit record, in one transaction. */
  private async recordEnforcement(
    img: ImageRef,
    column: 'purged' | 'blocked',
    outcome: string,
    action: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await this.db.tx(async (q) => {
      // `column` is one of two literals above, never caller text.
      await q.query(`UPDATE gate_images SET ${column} = $4, updated_at = now() WHERE registry = $1 AND repository = $2 AND digest = $3`, [
        img.registry,
        img.repository,
        img.digest,
        outcome,
      ]);
      await appendAudit(q, { actor: 'system', action, subject: `${img.registry}/${img.repository}@${img.digest}`, detail });
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

  /**
   * Images for people to browse (the console's gate page): by registry and repository, newest
   * first within each, optionally one registry, repository, digest or state; at most `limit`
   * rows, each with the tags last pushed for it.
   */
  async list(f: {
    registry?: string;
    repository?: string;
    digest?: string;
    state?: ImageState;
    limit: number;
  }): Promise<Array<ImageRow & { tags: string[] }>> {
    const rows = await this.db.query<RawRow & { tags: string[] | null }>(
      `SELECT g.*, (SELECT array_agg(t.tag ORDER BY t.tag) FROM gate_tags t
                    WHERE t.registry = g.registry AND t.repository = g.repository AND t.digest = g.digest) AS tags
       FROM gate_images g WHERE ($1::text IS NULL OR registry = $1) AND ($2::text IS NULL OR repository = $2)
         AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR digest = $4)
       ORDER BY registry, repository, updated_at DESC LIMIT $5`,
      [f.registry ?? null, f.repository ?? null, f.state ?? null, f.digest ?? null, f.limit],
    );
    return rows.map((r) => ({ ...toRow(r), tags: r.tags ?? [] }));
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
