// Console sessions in the database (table console_sessions), so every replica knows every
// session: an opaque random id in the cookie, its sha256 as the key, what the sign-in showed
// (who, and the static token's hash or the ID token's role and group claims — roles are derived
// from it and the current configuration on every request), a synchronizer CSRF token, an
// absolute expiry. A person's sessions can all be ended at once (sign out everywhere, an admin).
// A visitor's row before sign-in holds the sign-in form's CSRF token and the OpenID Connect
// state, nonce and PKCE verifier. It must
// never store the cookie value itself, never return an expired row, never trust roles stored at
// sign-in, and never keep a visitor's id across sign-in (a new id at sign-in: no session fixation).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../auth/identity.js';
import type { Db, Queryable } from '../state/db.js';

export interface Session {
  /** sha256 of the cookie value (hex). */
  key: string;
  identity: Identity | undefined;
  csrf: string;
  oidc: { state: string; nonce: string; verifier: string; returnTo: string } | undefined;
  expiresAt: Date;
}

interface Row {
  id_sha256: string;
  identity: unknown;
  csrf: string;
  oidc_state: string | null;
  oidc_nonce: string | null;
  oidc_verifier: string | null;
  return_to: string | null;
  expires_at: Date | string;
}

/**
 * What a signed-in session keeps of its sign-in: who (oid, name) and what the roles are derived
 * from — the static token's sha256, or the ID token's role and group claims — never the roles
 * themselves: those are derived again on every request from this and the current configuration.
 */
export interface StoredIdentity {
  oid: string;
  name: string;
  via: Identity['via'];
  source: { kind: 'static'; tokenSha256: string } | { kind: 'oidc'; roles: string[]; groups: string[] };
}

/** The identity a stored sign-in has under the current configuration; undefined: it no longer signs anyone in. */
export type IdentityResolver = (stored: StoredIdentity) => Identity | undefined;

/** A visitor's row (before sign-in) lives this long: enough to finish a sign-in at the provider. */
const VISITOR_TTL_MS = 30 * 60 * 1000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const randomToken = () => randomBytes(32).toString('base64url');

/** A row written before sign-ins kept their source (roles stored instead) is not trusted: sign in again. */
function isStored(v: unknown): v is StoredIdentity {
  const s = v as Partial<StoredIdentity> | null;
  return typeof s?.oid === 'string' && (s.source?.kind === 'static' || s.source?.kind === 'oidc');
}

function fromRow(r: Row, resolve: IdentityResolver): Session & { stale: boolean } {
  const stored: unknown = typeof r.identity === 'string' ? JSON.parse(r.identity) : r.identity;
  const identity = isStored(stored) ? resolve(stored) : undefined;
  return {
    key: r.id_sha256,
    identity,
    csrf: r.csrf,
    oidc:
      r.oidc_state && r.oidc_nonce && r.oidc_verifier
        ? { state: r.oidc_state, nonce: r.oidc_nonce, verifier: r.oidc_verifier, returnTo: r.return_to ?? '/ui/' }
        : undefined,
    expiresAt: new Date(r.expires_at),
    // A signed-in row whose sign-in no longer holds (a static token withdrawn, an old row).
    stale: stored !== null && identity === undefined,
  };
}

/** True when the two CSRF tokens are equal (constant time). */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
    private readonly resolve: IdentityResolver,
  ) {}

  /**
   * The live session behind a cookie value, if any, with the identity its sign-in gives under
   * the current configuration. A session whose sign-in no longer holds is ended here.
   */
  async find(cookie: string | undefined): Promise<Session | undefined> {
    if (!cookie || cookie.length > 100) return undefined;
    const [row] = await this.db.query<Row>('SELECT * FROM console_sessions WHERE id_sha256 = $1 AND expires_at > now()', [sha256(cookie)]);
    if (!row) return undefined;
    const { stale, ...session } = fromRow(row, this.resolve);
    if (!stale) return session;
    await this.end(session);
    return undefined;
  }

  /** A new visitor row (no identity); returns the cookie value and the session. */
  async startVisit(oidc?: Session['oidc']): Promise<{ cookie: string; session: Session }> {
    // Expired rows go here, where rows are made, instead of in a job of their own.
    await this.db.query('DELETE FROM console_sessions WHERE expires_at <= now()');
    return this.insert(null, new Date(Date.now() + VISITOR_TTL_MS), oidc);
  }

  /** Signs in: a new id for the sign-in (the visitor row, if any, is deleted). */
  async signIn(who: StoredIdentity, previous: Session | undefined): Promise<{ cookie: string; session: Session }> {
    if (previous) await this.end(previous);
    return this.insert(who, new Date(Date.now() + this.ttlMs));
  }

  async end(session: Session): Promise<void> {
    await this.db.query('DELETE FROM console_sessions WHERE id_sha256 = $1', [session.key]);
  }

  /**
   * Ends every signed-in session of an identity (oid), on every replica at once, and records it
   * in the same transaction (record: the audit append); returns how many ended.
   */
  async endAllOf(oid: string, record: (ended: number, q: Queryable) => Promise<unknown>): Promise<number> {
    return this.db.tx(async (q) => {
      const rows = await q.query<{ id_sha256: string }>("DELETE FROM console_sessions WHERE identity ->> 'oid' = $1 RETURNING id_sha256", [
        oid,
      ]);
      await record(rows.length, q);
      return rows.length;
    });
  }

  /** The identities with live sessions: oid, name, how many, and the last expiry (the admin's sessions page). */
  async signedIn(limit = 500): Promise<Array<{ oid: string; name: string; sessions: number; until: Date }>> {
    const rows = await this.db.query<{ oid: string; name: string; n: string | number; until: Date | string }>(
      `SELECT identity ->> 'oid' AS oid, max(identity ->> 'name') AS name, count(*) AS n, max(expires_at) AS until
       FROM console_sessions WHERE identity IS NOT NULL AND expires_at > now()
       GROUP BY identity ->> 'oid' ORDER BY identity ->> 'oid' LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ oid: r.oid, name: r.name, sessions: Number(r.n), until: new Date(r.until) }));
  }

  /** Takes the pending OpenID Connect sign-in off a visitor row (it can be used once). */
  async takeOidc(session: Session): Promise<Session['oidc']> {
    const [row] = await this.db.query<Row>(
      `UPDATE console_sessions s SET oidc_state = NULL, oidc_nonce = NULL, oidc_verifier = NULL, return_to = NULL
       FROM (SELECT * FROM console_sessions WHERE id_sha256 = $1 AND expires_at > now() FOR UPDATE) old
       WHERE s.id_sha256 = old.id_sha256 RETURNING old.*`,
      [session.key],
    );
    return row ? fromRow(row, this.resolve).oidc : undefined;
  }

  private async insert(identity: StoredIdentity | null, expiresAt: Date, oidc?: Session['oidc']) {
    const cookie = randomToken();
    const [row] = await this.db.query<Row>(
      `INSERT INTO console_sessions (id_sha256, identity, csrf, oidc_state, oidc_nonce, oidc_verifier, return_to, expires_at)
       VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [
        sha256(cookie),
        identity ? JSON.stringify(identity) : null,
        randomToken(),
        oidc?.state ?? null,
        oidc?.nonce ?? null,
        oidc?.verifier ?? null,
        oidc?.returnTo ?? null,
        expiresAt,
      ],
    );
    const { stale: _stale, ...session } = fromRow(row!, this.resolve);
    return { cookie, session };
  }
}
