// The exception workflow: request → triage → approve/reject by someone else → active until it
// expires or is revoked. Every transition is one transaction that updates the row, appends
// the audit record and notifies every replica to reload policy, so an approval is in force
// everywhere within the notification round trip, or not at all.
import { appendAudit } from '../audit/log.js';
import { POLICY_CHANNEL } from '../catalog/changes.js';
import type { Config } from '../config/schema.js';
import { durationMs } from '../config/schema.js';
import { errors } from '../errors.js';
import { grammars } from '../ecosystems/index.js';
import type { PolicyStore } from '../policy/store.js';
import type { Ecosystem, Rule } from '../policy/types.js';
import type { Db, Queryable } from '../state/db.js';
import { whereClause } from '../state/where.js';
import { canApprove, type Identity } from '../auth/identity.js';
import type { TriageReport } from './triage.js';
import type { ExceptionEvent } from './notify.js';
import { exceptionScope, requireRequestable, shows, type ExceptionScope, type ExceptionViewer } from './scope.js';

export type ExceptionState = 'requested' | 'active' | 'rejected' | 'expired' | 'revoked';

const EVENT_OF: Partial<Record<ExceptionState, ExceptionEvent>> = {
  active: 'exception.approved',
  rejected: 'exception.rejected',
  revoked: 'exception.revoked',
};

export interface ExceptionRecord {
  id: string;
  ecosystem: Ecosystem;
  name: string;
  versions: string;
  view: string;
  reason: string;
  state: ExceptionState;
  requestedBy: string;
  requestedByName: string;
  requestedAt: string;
  expiresAt: string;
  decidedBy: string | null;
  decidedByName: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  triage: TriageReport | Record<string, never>;
  /** The request this one was asked together with (the dependencies of a package ask with it); null when alone. */
  bundle: string | null;
}

export interface ExceptionRequest {
  ecosystem: Ecosystem;
  name: string;
  versions: string;
  view: string;
  reason: string;
  /** Requested validity; defaults to exceptions.defaultDuration, capped at maxDuration. */
  expires?: Date;
}

interface Row {
  id: string;
  ecosystem: Ecosystem;
  name: string;
  versions: string;
  view: string;
  reason: string;
  state: ExceptionState;
  requested_by: string;
  requested_by_name: string;
  requested_at: Date | string;
  expires_at: Date | string;
  decided_by: string | null;
  decided_by_name: string | null;
  decided_at: Date | string | null;
  decision_note: string | null;
  triage: Record<string, unknown> | string;
  bundle: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

function fromRow(r: Row): ExceptionRecord {
  return {
    id: r.id,
    ecosystem: r.ecosystem,
    name: r.name,
    versions: r.versions,
    view: r.view,
    reason: r.reason,
    state: r.state,
    requestedBy: r.requested_by,
    requestedByName: r.requested_by_name,
    requestedAt: iso(r.requested_at),
    expiresAt: iso(r.expires_at),
    decidedBy: r.decided_by,
    decidedByName: r.decided_by_name,
    decidedAt: r.decided_at ? iso(r.decided_at) : null,
    decisionNote: r.decision_note,
    triage: (typeof r.triage === 'string' ? JSON.parse(r.triage) : r.triage) as ExceptionRecord['triage'],
    bundle: r.bundle ?? null,
  };
}

export interface ExceptionFilter {
  state?: ExceptionState;
  view?: string;
  ecosystem?: Ecosystem;
  name?: string;
  requestedBy?: string;
  /** The requests asked together with this one. */
  bundle?: string;
  limit?: number;
}

/** A request checked and triaged, ready to record. */
interface Prepared {
  req: ExceptionRequest;
  expires: Date;
  report: TriageReport;
}

export type ExceptionListener = (event: ExceptionEvent, e: ExceptionRecord) => void;

export class ExceptionService {
  private readonly listeners = new Set<ExceptionListener>();

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly policies: PolicyStore,
    private readonly triage: (req: ExceptionRequest) => Promise<TriageReport>,
  ) {}

  /** Called after each committed transition (notifications, sync scheduling). */
  on(fn: ExceptionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(event: ExceptionEvent, e: ExceptionRecord): void {
    for (const fn of this.listeners) {
      try {
        fn(event, e);
      } catch {
        // a listener never fails the workflow
      }
    }
  }

  /** Active exceptions as policy rules (registered as a PolicyStore rule source). */
  async activeRules(now = new Date()): Promise<Rule[]> {
    const rows = await this.db.query<Row>("SELECT * FROM exceptions WHERE state = 'active' AND expires_at > $1", [now]);
    const rules: Rule[] = [];
    for (const r of rows) {
      const grammar = grammars[r.ecosystem];
      const matcher = grammar?.parseRange(r.versions, {});
      if (!grammar || !matcher || 'error' in matcher) continue; // validated on request; a grammar change must not widen access
      rules.push({
        kind: 'exception',
        ecosystem: r.ecosystem,
        name: grammar.normalizeName(r.name),
        matcher,
        view: r.view,
        id: r.id,
        expires: new Date(r.expires_at),
        reason: r.reason,
        bypassCooldown: true,
      });
    }
    return rules;
  }

  /** Checks a request as create() does and triages it, writing nothing (the console shows it before submitting). */
  async preview(who: Identity, req: ExceptionRequest): Promise<TriageReport> {
    return (await this.prepare(who, req)).report;
  }

  async create(who: Identity, req: ExceptionRequest): Promise<ExceptionRecord> {
    const [created] = await this.createBundle(who, req, []);
    return created!;
  }

  /**
   * One request for a package and the dependencies it needs: every part is checked and triaged
   * first, then all are recorded in one transaction (all or none), each its own exception (each
   * decided on its own), the dependencies carrying the first one's id as their bundle.
   */
  async createBundle(who: Identity, main: ExceptionRequest, dependencies: ExceptionRequest[]): Promise<ExceptionRecord[]> {
    const parts: Prepared[] = [];
    for (const req of [main, ...dependencies]) parts.push(await this.prepare(who, req));
    const names = parts.map((p) => p.req.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw errors.badRequest(`${twice} is asked for twice in one request; list each package once`);
    const created = await this.db.tx(async (q) => {
      const out: ExceptionRecord[] = [];
      for (const p of parts) out.push(await this.insert(q, who, p, out[0]?.id ?? null));
      return out;
    });
    for (const e of created) this.emit('exception.requested', e);
    return created;
  }

  private async prepare(who: Identity, req: ExceptionRequest): Promise<Prepared> {
    if (!who.roles.has('requester') && !who.roles.has('admin')) throw errors.forbidden('requesting an exception needs the requester role');
    const grammar = grammars[req.ecosystem];
    if (!grammar) throw errors.badRequest(`ecosystem "${req.ecosystem}" is not supported`);
    const nameProblem = grammar.checkName(req.name);
    if (nameProblem) throw errors.invalidName(nameProblem);
    const matcher = grammar.parseRange(req.versions, {});
    if ('error' in matcher) throw errors.badRequest(`versions: ${matcher.error}`);
    requireRequestable(who, req.view, this.config.auth.packageRead);
    if (req.view !== '*' && !this.policies.policy.hasView(req.view)) throw errors.unknownView(req.view, this.policies.policy.viewNames());
    const now = Date.now();
    const max = durationMs(this.config.exceptions.maxDuration);
    const expires = req.expires ?? new Date(now + durationMs(this.config.exceptions.defaultDuration));
    if (Number.isNaN(expires.getTime()) || expires.getTime() <= now) throw errors.badRequest('expires must be a date in the future');
    if (expires.getTime() > now + max) throw errors.badRequest(`expires may be at most ${this.config.exceptions.maxDuration} from now (${new Date(now + max).toISOString().slice(0, 10)})`);
    const name = grammar.normalizeName(req.name);
    const report = await this.triage({ ...req, name, expires });
    return { req: { ...req, name }, expires, report };
  }

  private async insert(q: Queryable, who: Identity, p: Prepared, bundle: string | null): Promise<ExceptionRecord> {
    const { req, expires, report } = p;
    const [n] = await q.query<{ n: string }>("SELECT nextval('exception_number') AS n");
    const id = `EXC-${n!.n}`;
    const [row] = await q.query<Row>(
      `INSERT INTO exceptions (id, ecosystem, name, versions, view, reason, state, requested_by, requested_by_name, expires_at, triage, bundle)
       VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9, $10::jsonb, $11) RETURNING *`,
      [id, req.ecosystem, req.name, req.versions, req.view, req.reason, who.oid, who.name, expires, JSON.stringify(report), bundle],
    );
    await appendAudit(q, { actor: who.oid, action: 'exception.requested', subject: id, detail: { ecosystem: req.ecosystem, name: req.name, versions: req.versions, view: req.view, reason: req.reason, expires: expires.toISOString(), ...(bundle ? { bundle } : {}) } });
    return fromRow(row!);
  }

  /** The exceptions this viewer is shown (scope.ts). */
  scopeOf(viewer: ExceptionViewer): ExceptionScope {
    return exceptionScope(viewer, this.config.auth.packageRead);
  }

  /** One exception; 404 alike for one that does not exist and one the viewer is not shown (ids do not tell existence). */
  async get(id: string, viewer: ExceptionViewer): Promise<ExceptionRecord> {
    const [row] = await this.db.query<Row>('SELECT * FROM exceptions WHERE id = $1', [id]);
    const e = row ? fromRow(row) : undefined;
    if (!e || !shows(this.scopeOf(viewer), e)) throw errors.notFound(`no exception ${id}`);
    return e;
  }

  /** The exceptions matching the filter that the viewer is shown. */
  async list(f: ExceptionFilter, viewer: ExceptionViewer): Promise<ExceptionRecord[]> {
    const scope = this.scopeOf(viewer);
    const where = whereClause([
      ['state = ?', f.state],
      ['view = ?', f.view],
      ['ecosystem = ?', f.ecosystem],
      ['name = ?', f.name],
      ['requested_by = ?', f.requestedBy],
      ['bundle = ?', f.bundle],
    ]);
    if (scope !== 'all') {
      const n = where.params.push([...scope.views], scope.oid);
      where.sql = `${where.sql ? `${where.sql} AND` : 'WHERE'} (view = ANY($${n - 1}::text[]) OR requested_by = $${n})`;
    }
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 500);
    const rows = await this.db.query<Row>(`SELECT * FROM exceptions ${where.sql} ORDER BY requested_at DESC, id DESC LIMIT ${limit}`, where.params);
    return rows.map(fromRow);
  }

  approve(who: Identity, id: string, note?: string): Promise<ExceptionRecord> {
    return this.decide(who, id, 'active', note);
  }

  reject(who: Identity, id: string, note?: string): Promise<ExceptionRecord> {
    return this.decide(who, id, 'rejected', note);
  }

  /** Ends an active exception (approvers of its view, admins) or withdraws a pending request (also its requester). */
  async revoke(who: Identity, id: string, note?: string): Promise<ExceptionRecord> {
    return this.transition(who, id, async (q, cur) => {
      const own = cur.requestedBy === who.oid && cur.state === 'requested';
      if (!own && !canApprove(who, cur.view)) throw errors.forbidden(`revoking ${id} needs approver rights for view ${cur.view}${cur.view === '*' ? ' (global: admins only)' : ''}`);
      if (cur.state !== 'active' && cur.state !== 'requested') throw errors.conflict(`${id} is ${cur.state}; only requested or active exceptions can be revoked`);
      return this.update(q, who, cur, 'revoked', note, 'exception.revoked');
    });
  }

  /**
   * Marks exceptions past their expiry as expired: active ones, and requests nobody decided in
   * time (they could never be approved any more). Returns them (for notifications).
   */
  async expireDue(now = new Date()): Promise<ExceptionRecord[]> {
    return this.db.tx(async (q) => {
      const rows = await q.query<Row & { previous: ExceptionState }>(
        `UPDATE exceptions e SET state = 'expired', updated_at = now()
         FROM (SELECT id, state AS previous FROM exceptions WHERE state IN ('active', 'requested') AND expires_at <= $1 FOR UPDATE) old
         WHERE e.id = old.id RETURNING e.*, old.previous`,
        [now],
      );
      for (const r of rows) await appendAudit(q, { actor: 'system', action: 'exception.expired', subject: r.id, detail: { expiresAt: iso(r.expires_at), from: r.previous } });
      if (rows.length) await q.query('SELECT pg_notify($1, $2)', [POLICY_CHANNEL, 'exceptions']);
      return rows.map(fromRow);
    }).then((expired) => {
      for (const e of expired) this.emit('exception.expired', e);
      return expired;
    });
  }

  /** Active exceptions ending within `withinMs` not warned about yet: marks and announces them. */
  async warnExpiring(withinMs: number, now = new Date()): Promise<ExceptionRecord[]> {
    const rows = await this.db.query<Row>(
      `UPDATE exceptions SET expiry_warned_at = now() WHERE state = 'active' AND expiry_warned_at IS NULL AND expires_at > $1 AND expires_at <= $2 RETURNING *`,
      [now, new Date(now.getTime() + withinMs)],
    );
    const out = rows.map(fromRow);
    for (const e of out) this.emit('exception.expiring', e);
    return out;
  }

  /** Active exceptions that expire within `within` ms (for warnings). */
  async expiringWithin(withinMs: number, now = new Date()): Promise<ExceptionRecord[]> {
    const rows = await this.db.query<Row>("SELECT * FROM exceptions WHERE state = 'active' AND expires_at > $1 AND expires_at <= $2 ORDER BY expires_at", [now, new Date(now.getTime() + withinMs)]);
    return rows.map(fromRow);
  }

  private decide(who: Identity, id: string, to: 'active' | 'rejected', note?: string): Promise<ExceptionRecord> {
    return this.transition(who, id, async (q, cur) => {
      if (cur.requestedBy === who.oid) throw errors.forbidden('the approver must not be the requester: ask another approver of this workspace');
      if (!canApprove(who, cur.view)) {
        throw errors.forbidden(cur.view === '*' ? 'a global exception can only be decided by an admin' : `deciding ${id} needs the approver role for view ${cur.view}`);
      }
      const lapsed = cur.state === 'expired' && cur.decidedAt === null;
      if (lapsed || (cur.state === 'requested' && to === 'active' && new Date(cur.expiresAt).getTime() <= Date.now())) {
        throw errors.conflict(`${id} expired on ${cur.expiresAt} before anyone decided it; it can no longer be approved: request it again`);
      }
      if (cur.state !== 'requested') throw errors.conflict(`${id} is already ${cur.state}`);
      return this.update(q, who, cur, to, note, to === 'active' ? 'exception.approved' : 'exception.rejected');
    });
  }

  /** Runs fn on the locked row; 404 for one the identity is not shown, as get() answers. */
  private async transition(who: Identity, id: string, fn: (q: Queryable, cur: ExceptionRecord) => Promise<ExceptionRecord>): Promise<ExceptionRecord> {
    const out = await this.db.tx(async (q) => {
      const [row] = await q.query<Row>('SELECT * FROM exceptions WHERE id = $1 FOR UPDATE', [id]);
      const cur = row ? fromRow(row) : undefined;
      if (!cur || !shows(this.scopeOf(who), cur)) throw errors.notFound(`no exception ${id}`);
      return fn(q, cur);
    });
    // This replica applies the change now; the others follow the NOTIFY sent at commit. Safe to
    // drop a failure here: that NOTIFY reaches this replica too, and its reload is logged,
    // counted and retried until it succeeds (catalog/reload.ts).
    await this.policies.reload().catch(() => undefined);
    this.emit(EVENT_OF[out.state]!, out);
    return out;
  }

  private async update(q: Queryable, who: Identity, cur: ExceptionRecord, to: ExceptionState, note: string | undefined, action: string): Promise<ExceptionRecord> {
    const [row] = await q.query<Row>(
      `UPDATE exceptions SET state = $2, decided_by = $3, decided_by_name = $4, decided_at = now(), decision_note = $5, updated_at = now()
       WHERE id = $1 RETURNING *`,
      [cur.id, to, who.oid, who.name, note ?? null],
    );
    await appendAudit(q, { actor: who.oid, action, subject: cur.id, detail: { from: cur.state, to, note: note ?? null, view: cur.view, name: cur.name, versions: cur.versions, requestedBy: cur.requestedBy } });
    await q.query('SELECT pg_notify($1, $2)', [POLICY_CHANNEL, cur.id]);
    return fromRow(row!);
  }
}
