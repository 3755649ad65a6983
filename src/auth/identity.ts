// Who is calling: Microsoft Entra ID bearer tokens validated with `jose` against the tenant's
// JWKS (issuer pinned to one token version, audience, expiry, tenant, app roles), and static
// tokens for the embedded default, for services (pipelines, the registry webhook) and for
// workspaces reading packages. Separation of duties compares the token's `oid`, never a display
// name. Which views' packages an identity reads is decided here once per token (a Set on the
// identity), so the read path's check is a lookup; it must never grant a read no configuration
// line or app role gives (auth.unscopedRead: all is such a line). Entra tokens are remembered once
// verified and once refused (verified-tokens.ts, rejected-tokens.ts), and what the unverified
// claims already condemn is refused before the signature check; nothing is ever accepted unverified.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { durationMs, type AuthConfig } from '../config/schema.js';
import { errors } from '../errors.js';
import { KeysUnavailable, loadJose, RemoteKeySet } from './jwks.js';
import { RejectedTokens } from './rejected-tokens.js';
import { VerifiedTokens } from './verified-tokens.js';

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
  /** Views whose packages this identity reads when package reads need a token ('*' = every view). */
  readViews: ReadonlySet<string> | '*';
  via: 'entra' | 'static';
}

/** A read grant as configured: views, every view, or none stated (then auth.unscopedRead decides). */
export type ReadGrant = ReadonlySet<string> | '*' | undefined;

const NO_VIEWS: ReadonlySet<string> = new Set();

export class AuthError extends Error {
  readonly code = 'UNAUTHENTICATED';

  /** lasting: the same token will be refused again (false for one not valid yet, or signed by a key id not in the set): such a refusal may be remembered. */
  constructor(
    message: string,
    readonly lasting = true,
  ) {
    super(message);
  }
}

/** `https://login.microsoftonline.com/{tid}/v2.0` (v2 tokens) or `https://sts.windows.net/{tid}/` (v1). */
export function entraIssuer(tenantId: string, version: 1 | 2): string {
  return version === 2 ? `https://login.microsoftonline.com/${tenantId}/v2.0` : `https://sts.windows.net/${tenantId}/`;
}

/**
 * Maps app-role values to Safelist roles: `<prefix>Requester`, `<prefix>Admin`, … and
 * `<prefix>Approver.<view>` for an approver of one workspace (`<prefix>Approver` alone: all).
 * `<prefix>Reader.<view>` grants reading one view's packages (`<prefix>Reader` alone: all); it is
 * a grant, not a role: it opens no API route.
 */
export function rolesFromClaims(
  values: unknown,
  prefix: string,
): { roles: Set<Role>; approverViews: Set<string> | '*'; readGrant: Set<string> | '*' | undefined } {
  const roles = new Set<Role>();
  let views: Set<string> | '*' = new Set();
  let read: Set<string> | '*' | undefined;
  for (const v of Array.isArray(values) ? values : []) {
    if (typeof v !== 'string' || !v.startsWith(prefix)) continue;
    const rest = v.slice(prefix.length);
    const [head, view] = rest.split(/\.(.*)/s) as [string, string | undefined];
    if (head.toLowerCase() === 'reader') {
      if (view === undefined || view === '*') read = '*';
      else if (read === undefined) read = new Set([view]);
      else if (read !== '*') read.add(view);
      continue;
    }
    const role = head.toLowerCase() as Role;
    if (!ROLES.includes(role)) continue;
    roles.add(role);
    if (role === 'approver') {
      if (view === undefined || view === '*') views = '*';
      else if (views !== '*') views.add(view);
    }
  }
  if (roles.has('admin')) views = '*';
  return { roles, approverViews: views, readGrant: read };
}

/**
 * What an unstated read grant means under this configuration: auth.unscopedRead, else "none" once
 * any static token states `read` (a configuration written for read grants), else "all" (one
 * written before them: upgrading must not lock every workspace out).
 */
export function unscopedRead(config: AuthConfig): 'none' | 'all' {
  return config.unscopedRead ?? (config.tokens.some((t) => t.read !== undefined) ? 'none' : 'all');
}

/** The views an identity reads: admins every view; else its grant; else what unscoped identities get. */
export function readViewsOf(roles: ReadonlySet<Role>, grant: ReadGrant, unscoped: 'none' | 'all'): ReadonlySet<string> | '*' {
  if (roles.has('admin') || grant === '*') return '*';
  return grant ?? (unscoped === 'all' ? '*' : NO_VIEWS);
}

/** The read path's check: one Set lookup. */
export function canRead(who: Identity, view: string): boolean {
  return who.readViews === '*' || who.readViews.has(view);
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
  /** Entra tokens remembered once verified (0: verify every time; benchmarks compare). Default 4096. */
  verifiedTokens?: number;
  /** Entra tokens remembered once refused (0: check every time; benchmarks compare). Default 8192. */
  rejectedTokens?: number;
}

/** How long a verified Entra token is remembered at most (and never past its exp). */
const VERIFIED_MAX_AGE_MS = 5 * 60_000;

/**
 * How long a refused Entra token is remembered: short, so that a key Entra rotated in while
 * refreshes were held back (RemoteKeySet's cooldown, also 30 s) is not refused for long.
 */
const REJECTED_TTL_MS = 30_000;

/** Allowed clock skew (s) for exp and nbf, before and after the signature check alike. */
const CLOCK_TOLERANCE_S = 60;

export class Authenticator {
  private readonly jwks: RemoteKeySet | undefined;
  private readonly staticTokens: Array<{ digest: Buffer; identity: Identity }>;
  private readonly verified: VerifiedTokens | undefined;
  private readonly rejected: RejectedTokens | undefined;
  private verifications = 0;
  /** What an identity with no read grant reads (see unscopedRead). */
  readonly unscopedRead: 'none' | 'all';

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
    this.unscopedRead = unscopedRead(config);
    this.staticTokens = config.tokens.map((t) => {
      const roles = new Set<Role>(t.roles);
      const approverViews: Set<string> | '*' = roles.has('admin') || t.views.includes('*') ? '*' : new Set(t.views);
      const grant: ReadGrant = t.read === undefined ? undefined : t.read.includes('*') ? '*' : new Set(t.read);
      const readViews = readViewsOf(roles, grant, this.unscopedRead);
      return {
        digest: t.tokenSha256 ? Buffer.from(t.tokenSha256, 'hex') : sha256(t.token!),
        identity: { oid: t.id, name: t.name ?? t.id, roles, approverViews, readViews, via: 'static' as const },
      };
    });
    const size = opts.verifiedTokens ?? 4096;
    this.verified = this.jwks && size > 0 ? new VerifiedTokens({ max: size, maxAgeMs: VERIFIED_MAX_AGE_MS }) : undefined;
    const refusals = opts.rejectedTokens ?? 8192;
    this.rejected = this.jwks && refusals > 0 ? new RejectedTokens({ max: refusals, ttlMs: REJECTED_TTL_MS }) : undefined;
  }

  /**
   * Start-up notes on read grants when package reads need a token: the static tokens that read
   * every view only because they state no `read` (auth.unscopedRead all, set or implied).
   */
  readGrantWarnings(): string[] {
    if (this.unscopedRead === 'none') return [];
    const implied = this.config.unscopedRead === undefined;
    const unscoped = this.config.tokens.filter((t) => t.read === undefined && !t.roles.includes('admin')).map((t) => t.id);
    const who = [
      ...(unscoped.length ? [`the tokens ${unscoped.join(', ')} of auth.tokens`] : []),
      ...(this.jwks ? [`Entra tokens without a ${this.config.entra!.rolePrefix}Reader role`] : []),
    ];
    if (!who.length) return [];
    return [
      `package reads: ${who.join(' and ')} read every view's packages, because ${
        implied ? 'no token in auth.tokens states read (a configuration from before read grants)' : 'auth.unscopedRead is all'
      }. Give each token read: [<its view>] (read: ['*'] to keep every view)${
        this.jwks ? ` and each Entra identity the app role ${this.config.entra!.rolePrefix}Reader.<view>` : ''
      }, then set auth.unscopedRead: none; from then on a token without a grant reads nothing.`,
    ];
  }

  /** What the holder of this identity asks for to read a view's packages (the 403's advice). */
  readGrantHint(who: Identity, view: string): string {
    return who.via === 'entra'
      ? `ask a Safelist administrator for the Entra app role ${this.config.entra?.rolePrefix ?? 'Safelist.'}Reader.${view}`
      : `ask a Safelist administrator to add ${view} to read: of token ${who.oid} in auth.tokens`;
  }

  /** Entra tokens remembered as verified right now (tests; never the tokens themselves). */
  get rememberedTokens(): number {
    return this.verified?.size ?? 0;
  }

  /** Entra tokens remembered as refused right now (tests). */
  get refusedTokens(): number {
    return this.rejected?.size ?? 0;
  }

  /** How many tokens went to jose's verification (key look-up, then signature and claims) so far (tests, benchmarks). */
  get jwtVerifications(): number {
    return this.verifications;
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
    const digest = sha256(token);
    if (this.jwks && hasThreeParts(token)) return this.fromJwt(token, digest);
    for (const t of this.staticTokens) if (timingSafeEqual(t.digest, digest)) return t.identity;
    throw new AuthError('the token is not valid for this Safelist');
  }

  /**
   * A token remembered as verified or as refused (keys unchanged since), else a full verification,
   * whose outcome is remembered: a replayed forged token costs a look-up, not a signature check.
   */
  private async fromJwt(token: string, digest: Buffer): Promise<Identity> {
    const generation = this.jwks!.usableGeneration();
    if (generation !== undefined) {
      const hit = this.verified?.get(digest, generation);
      if (hit) return hit;
      const refused = this.rejected?.get(digest, generation);
      if (refused !== undefined) throw new AuthError(refused);
    }
    const used = { keys: -1 };
    try {
      const { who, exp } = await this.verifyJwt(token, used);
      this.verified?.set(digest, who, exp, used.keys);
      return who;
    } catch (err) {
      // Under the keys it was checked with: those of the key found, else those of the start
      // (a key id none had, or a refusal no key was needed for). Under newer keys it is not found.
      const keys = used.keys >= 0 ? used.keys : generation;
      if (err instanceof AuthError && err.lasting && keys !== undefined) this.rejected?.set(digest, err.message, keys);
      throw err;
    }
  }

  /** The identity and its exp; `used.keys` is set to the generation of the key set its key came from, once one is found. */
  private async verifyJwt(token: string, used: { keys: number }): Promise<{ who: Identity; exp: number }> {
    const e = this.config.entra!;
    const jose = await loadJose();
    const issuer = e.issuer ?? entraIssuer(e.tenantId, e.tokenVersion);
    refuseUnverified(checkJwtShape(jose, token), { issuer, audience: e.audience, tenantId: e.tenantId });
    let payload: JWTPayload;
    this.verifications++;
    try {
      ({ payload } = await jose.jwtVerify(
        token,
        this.jwks!.keyGetter((g) => (used.keys = g)),
        {
          issuer,
          audience: e.audience,
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ['exp', 'oid', 'tid'],
        },
      ));
    } catch (err) {
      // Cannot know whether the token is good: 503 with Retry-After, never a pass and never "invalid".
      if (err instanceof KeysUnavailable) throw errors.unavailable(err.message);
      if (err instanceof jose.errors.JWTExpired) throw new AuthError('the token has expired; get a new one');
      if (err instanceof jose.errors.JWTClaimValidationFailed) {
        // Not valid yet: it may be soon (never remembered as refused).
        if (err.claim === 'nbf') throw new AuthError('the token is not valid yet (nbf); check the clocks or retry shortly', false);
        throw claimRefusal(err.claim, err.reason === 'check_failed');
      }
      // A key id the key set lacks is refused only until the set is fetched again (Entra may
      // have rotated it in; with the endpoint down that is a 503): never remembered as refused.
      if (err instanceof jose.errors.JWKSNoMatchingKey) throw new AuthError(`the token is not valid: ${err.code}`, false);
      if (err instanceof jose.errors.JOSEError) throw new AuthError(`the token is not valid: ${err.code}`);
      throw err;
    }
    if (payload.tid !== e.tenantId) throw new AuthError('the token was issued for another tenant');
    const { roles, approverViews, readGrant } = rolesFromClaims(payload[e.roleClaim], e.rolePrefix);
    const name =
      typeof payload.preferred_username === 'string'
        ? payload.preferred_username
        : typeof payload.name === 'string'
          ? payload.name
          : String(payload.oid);
    const readViews = readViewsOf(roles, readGrant, this.unscopedRead);
    return { who: { oid: String(payload.oid), name, roles, approverViews, readViews, via: 'entra' }, exp: payload.exp! };
  }
}

/** Header.payload.signature: two dots, as token.split('.').length === 3 without the array. */
function hasThreeParts(token: string): boolean {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  return second > 0 && token.indexOf('.', second + 1) < 0;
}

/**
 * Refuses what no key could make valid before any key is looked up, so that an unsigned
 * (alg "none") or malformed token is 401 whatever the state of the JWKS endpoint. Returns the
 * payload, unverified (for refusals only).
 */
function checkJwtShape(jose: typeof import('jose'), token: string): JWTPayload {
  let alg: unknown;
  let payload: JWTPayload;
  try {
    alg = jose.decodeProtectedHeader(token).alg;
    payload = jose.decodeJwt(token);
  } catch {
    throw new AuthError('the token is malformed (not a signed JWT)');
  }
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg))
    throw new AuthError(`the token is not valid: algorithm ${JSON.stringify(alg ?? null)} is not accepted (${ALGORITHMS.join(', ')} only)`);
  if (!/^[A-Za-z0-9_-]+$/.test(token.slice(token.lastIndexOf('.') + 1)))
    throw new AuthError('the token is not valid: it carries no signature');
  return payload;
}

function claimRefusal(claim: string, present: boolean): AuthError {
  return new AuthError(`the token is not for this Safelist: claim "${claim}" ${present ? 'does not match' : 'is missing'}`);
}

/**
 * Refuses, from the unverified claims and before any signature check, a token that would be
 * refused after it whatever its signature: another issuer, audience or tenant, no exp, expired
 * (the same messages as after verification). It only ever refuses: what passes is verified in
 * full by jose (signature, then the same claims again).
 */
function refuseUnverified(payload: JWTPayload, expect: { issuer: string; audience: string; tenantId: string }): void {
  if (payload.iss !== expect.issuer) throw claimRefusal('iss', payload.iss !== undefined);
  const aud = payload.aud;
  if (!(Array.isArray(aud) ? aud.includes(expect.audience) : aud === expect.audience)) throw claimRefusal('aud', aud !== undefined);
  if (typeof payload.exp !== 'number') throw claimRefusal('exp', payload.exp !== undefined);
  // As jose compares: whole seconds now.
  if (payload.exp <= Math.floor(Date.now() / 1000) - CLOCK_TOLERANCE_S) throw new AuthError('the token has expired; get a new one');
  if (payload.tid === undefined) throw claimRefusal('tid', false);
  if (payload.tid !== expect.tenantId) throw new AuthError('the token was issued for another tenant');
}

export function canApprove(who: Identity, view: string): boolean {
  if (who.roles.has('admin')) return true;
  if (!who.roles.has('approver')) return false;
  // A workspace approver never approves a global ('*') exception.
  if (view === '*') return false;
  return who.approverViews === '*' || who.approverViews.has(view);
}
