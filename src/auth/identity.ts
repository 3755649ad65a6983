// Who is calling: Microsoft Entra ID bearer tokens validated with `jose` against the tenant's
// JWKS (issuer pinned to one token version, audience, expiry, tenant, app roles), and static
// tokens for the embedded default and for services (pipelines, the registry webhook).
// Separation of duties compares the token's `oid`, never a display name.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { durationMs, type AuthConfig } from '../config/schema.js';
import { errors } from '../errors.js';
import { KeysUnavailable, loadJose, RemoteKeySet } from './jwks.js';

export const ROLES = ['requester', 'approver', 'admin', 'pipeline', 'webhook', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  /** Stable object id: Entra `oid`, or the static token's configured id. */
  oid: string;
  /** For messages and the audit trail only; never used for decisions. */
  name: string;
  roles: ReadonlySet<Role>;
  /** Views this identity may approve for ('*' = every view, as for admins). */
  approverViews: ReadonlySet<string> | '*';
  via: 'entra' | 'static';
}

export class AuthError extends Error {
  readonly code = 'UNAUTHENTICATED';
}

/** `https://login.microsoftonline.com/{tid}/v2.0` (v2 tokens) or `https://sts.windows.net/{tid}/` (v1). */
export function entraIssuer(tenantId: string, version: 1 | 2): string {
  return version === 2 ? `https://login.microsoftonline.com/${tenantId}/v2.0` : `https://sts.windows.net/${tenantId}/`;
}

/**
 * Maps app-role values to Safelist roles: `<prefix>Requester`, `<prefix>Admin`, … and
 * `<prefix>Approver.<view>` for an approver of one workspace (`<prefix>Approver` alone: all).
 */
export function rolesFromClaims(values: unknown, prefix: string): { roles: Set<Role>; approverViews: Set<string> | '*' } {
  const roles = new Set<Role>();
  let views: Set<string> | '*' = new Set();
  for (const v of Array.isArray(values) ? values : []) {
    if (typeof v !== 'string' || !v.startsWith(prefix)) continue;
    const rest = v.slice(prefix.length);
    const [head, view] = rest.split(/\.(.*)/s) as [string, string | undefined];
    const role = head.toLowerCase() as Role;
    if (!ROLES.includes(role)) continue;
    roles.add(role);
    if (role === 'approver') {
      if (view === undefined || view === '*') views = '*';
      else if (views !== '*') views.add(view);
    }
  }
  if (roles.has('admin')) views = '*';
  return { roles, approverViews: views };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** A token's sha256 in hex: how a console session remembers the static token it signed in with. */
export function tokenSha256(token: string): string {
  return sha256(token).toString('hex');
}

/** Only RS256 is accepted (what Entra signs with); anything else is refused before any key is looked up. */
const ALGORITHMS = ['RS256'];

export interface AuthenticatorOptions {
  /** Told when the JWKS endpoint cannot be fetched (the last good keys stay in use while they may). */
  onKeysFetchError?: (err: Error) => void;
}

export class Authenticator {
  private readonly jwks: RemoteKeySet | undefined;
  private readonly staticTokens: Array<{ digest: Buffer; identity: Identity }>;

  constructor(
    private readonly config: AuthConfig,
    opts: AuthenticatorOptions = {},
  ) {
    const e = config.entra;
    this.jwks = e
      ? new RemoteKeySet(new URL(e.jwksUri ?? `https://login.microsoftonline.com/${e.tenantId}/discovery/v2.0/keys`), {
          refreshMs: durationMs(e.jwksRefresh),
          maxStaleMs: durationMs(e.jwksMaxStale),
          onFetchError: (err) => opts.onKeysFetchError?.(err),
        })
      : undefined;
    this.staticTokens = config.tokens.map((t) => {
      const roles = new Set<Role>(t.roles);
      const approverViews: Set<string> | '*' = roles.has('admin') || t.views.includes('*') ? '*' : new Set(t.views);
      return {
        digest: t.tokenSha256 ? Buffer.from(t.tokenSha256, 'hex') : sha256(t.token!),
        identity: { oid: t.id, name: t.name ?? t.id, roles, approverViews, via: 'static' as const },
      };
    });
  }

  get enabled(): boolean {
    return this.jwks !== undefined || this.staticTokens.length > 0;
  }

  /** The identity behind an Authorization header value; undefined when there is none. */
  async authenticate(header: string | undefined): Promise<Identity | undefined> {
    if (!header) return undefined;
    const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header.trim());
    if (!m) throw new AuthError('the Authorization header must be "Bearer <token>" (or Basic with the token as password)');
    let token = m[2]!;
    if (m[1]!.toLowerCase() === 'basic') {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      token = colon >= 0 ? decoded.slice(colon + 1) : decoded;
    }
    return this.fromToken(token);
  }

  /** The identity the static token with this sha256 (hex) has in the current configuration; undefined when none has it. */
  staticIdentityOf(tokenSha256: string): Identity | undefined {
    if (!/^[0-9a-f]{64}$/.test(tokenSha256)) return undefined;
    const digest = Buffer.from(tokenSha256, 'hex');
    return this.staticTokens.find((t) => timingSafeEqual(t.digest, digest))?.identity;
  }

  async fromToken(token: string): Promise<Identity> {
    if (token.split('.').length === 3 && this.jwks) return this.fromJwt(token);
    const digest = sha256(token);
    for (const t of this.staticTokens) if (timingSafeEqual(t.digest, digest)) return t.identity;
    throw new AuthError('the token is not valid for this Safelist');
  }

  private async fromJwt(token: string): Promise<Identity> {
    const e = this.config.entra!;
    const jose = await loadJose();
    checkJwtShape(jose, token);
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, this.jwks!.getKey, {
        issuer: e.issuer ?? entraIssuer(e.tenantId, e.tokenVersion),
        audience: e.audience,
        algorithms: ALGORITHMS,
        clockTolerance: 60,
        requiredClaims: ['exp', 'oid', 'tid'],
      }));
    } catch (err) {
      // Cannot know whether the token is good: 503 with Retry-After, never a pass and never "invalid".
      if (err instanceof KeysUnavailable) throw errors.unavailable(err.message);
      if (err instanceof jose.errors.JWTExpired) throw new AuthError('the token has expired; get a new one');
      if (err instanceof jose.errors.JWTClaimValidationFailed)
        throw new AuthError(
          `the token is not for this Safelist: claim "${err.claim}" ${err.reason === 'check_failed' ? 'does not match' : 'is missing'}`,
        );
      if (err instanceof jose.errors.JOSEError) throw new AuthError(`the token is not valid: ${err.code}`);
      throw err;
    }
    if (payload.tid !== e.tenantId) throw new AuthError('the token was issued for another tenant');
    const { roles, approverViews } = rolesFromClaims(payload[e.roleClaim], e.rolePrefix);
    const name =
      typeof payload.preferred_username === 'string'
        ? payload.preferred_username
        : typeof payload.name === 'string'
          ? payload.name
          : String(payload.oid);
    return { oid: String(payload.oid), name, roles, approverViews, via: 'entra' };
  }
}

/**
 * Refuses what no key could make valid before any key is looked up, so that an unsigned
 * (alg "none") or malformed token is 401 whatever the state of the JWKS endpoint.
 */
function checkJwtShape(jose: typeof import('jose'), token: string): void {
  let alg: unknown;
  try {
    alg = jose.decodeProtectedHeader(token).alg;
    jose.decodeJwt(token);
  } catch {
    throw new AuthError('the token is malformed (not a signed JWT)');
  }
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg))
    throw new AuthError(`the token is not valid: algorithm ${JSON.stringify(alg ?? null)} is not accepted (${ALGORITHMS.join(', ')} only)`);
  if (!/^[A-Za-z0-9_-]+$/.test(token.slice(token.lastIndexOf('.') + 1)))
    throw new AuthError('the token is not valid: it carries no signature');
}

export function canApprove(who: Identity, view: string): boolean {
  if (who.roles.has('admin')) return true;
  if (!who.roles.has('approver')) return false;
  // A workspace approver never approves a global ('*') exception.
  if (view === '*') return false;
  return who.approverViews === '*' || who.approverViews.has(view);
}
