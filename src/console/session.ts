// Console sessions in the database (table console_sessions), so every replica knows every
// session: an opaque random id in the cookie, its sha256 as the key, the identity taken at
// sign-in, a synchronizer CSRF token, an absolute expiry. A visitor's row before sign-in holds
// the sign-in form's CSRF token and the OpenID Connect state, nonce and PKCE verifier. It must
// never store the cookie value itself, never return an expired row, and never keep a visitor's
// id across sign-in (a new id at sign-in: no session fixation).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Identity, Role } from '../auth/identity.js';
import type { Db } from '../state/db.js';

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
  identity: StoredIdentity | string | null;
  csrf: string;
  oidc_state: string | null;
  oidc_nonce: string | null;
  oidc_verifier: string | null;
  return_to: string | null;
  expires_at: Date | string;
}

interface StoredIdentity {
  oid: string;
  name: string;
  roles: Role[];
  approverViews: string[] | '*';
  via: Identity['via'];
}

/** A visitor's row (before sign-in) lives this long: enough to finish a sign-in at the provider. */
const VISITOR_TTL_MS = 30 * 60 * 1000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const randomToken = () => randomBytes(32).toString('base64url');

function toStored(who: Identity): StoredIdentity {
  return {
    oid: who.oid,
    name: who.name,
    roles: [...who.roles],
    approverViews: who.approverViews === '*' ? '*' : [...who.approverViews],
    via: who.via,
  };
}

function fromStored(s: StoredIdentity): Identity {
  return {
    oid: s.oid,
    name: s.name,
    roles: new Set(s.roles),
    approverViews: s.approverViews === '*' ? '*' : new Set(s.approverViews),
    via: s.via,
  };
}

function fromRow(r: Row): Session {
  const identity = typeof r.identity === 'string' ? (JSON.parse(r.identity) as StoredIdentity) : r.identity;
  return {
    key: r.id_sha256,
    identity: identity ? fromStored(identity) : undefined,
    csrf: r.csrf,
    oidc:
      r.oidc_state && r.oidc_nonce && r.oidc_verifier
        ? { state: r.oidc_state, nonce: r.oidc_nonce, verifier: r.oidc_verifier, returnTo: r.return_to ?? '/ui/' }
        : undefined,
    expiresAt: new Date(r.expires_at),
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
  ) {}

  /** The live session behind a cookie value, if any. */
  async find(cookie: string | undefined): Promise<Session | undefined> {
    if (!cookie || cookie.length > 100) return undefined;
    const [row] = await this.db.query<Row>('SELECT * FROM console_sessions WHERE id_sha256 = $1 AND expires_at > now()', [sha256(cookie)]);
    return row ? fromRow(row) : undefined;
  }

  /** A new visitor row (no identity); returns the cookie value and the session. */
  async startVisit(oidc?: Session['oidc']): Promise<{ cookie: string; session: Session }> {
    // Expired rows go here, where rows are made, instead of in a job of their own.
    await this.db.query('DELETE FROM console_sessions WHERE expires_at <= now()');
    return this.insert(null, new Date(Date.now() + VISITOR_TTL_MS), oidc);
  }

  /** Signs in: a new id for the identity (the visitor row, if any, is deleted). */
  async signIn(who: Identity, previous: Session | undefined): Promise<{ cookie: string; session: Session }> {
    if (previous) await this.end(previous);
    return this.insert(toStored(who), new Date(Date.now() + this.ttlMs));
  }

  async end(session: Session): Promise<void> {
    await this.db.query('DELETE FROM console_sessions WHERE id_sha256 = $1', [session.key]);
  }

  /** Takes the pending OpenID Connect sign-in off a visitor row (it can be used once). */
  async takeOidc(session: Session): Promise<Session['oidc']> {
    const [row] = await this.db.query<Row>(
      `UPDATE console_sessions s SET oidc_state = NULL, oidc_nonce = NULL, oidc_verifier = NULL, return_to = NULL
       FROM (SELECT * FROM console_sessions WHERE id_sha256 = $1 AND expires_at > now() FOR UPDATE) old
       WHERE s.id_sha256 = old.id_sha256 RETURNING old.*`,
      [session.key],
    );
    return row ? fromRow(row).oidc : undefined;
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
    return { cookie, session: fromRow(row!) };
  }
}
