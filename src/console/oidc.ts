// Console sign-in with OpenID Connect through openid-client: authorization code flow with PKCE
// (S256), state and nonce, against Microsoft Entra ID (or any provider: tests run panva's
// oidc-provider). The ID token's app roles map to Safelist roles with the API's own
// rolesFromClaims, plus auth.console.oidc.roleGrants (roles.ts); the session keeps the claims,
// not the roles. It must never accept an ID token openid-client did not verify, never sign in
// without an `oid` claim (separation of duties compares oids), and never talk to a provider
// over plain HTTP unless it is on this machine's loopback (tests).
import type * as oidc from 'openid-client';
import type { Identity } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import { entraIssuer } from '../auth/identity.js';
import { errors, SafelistError } from '../errors.js';
import { oidcRoles } from './roles.js';
import type { StoredIdentity } from './session.js';

export interface OidcPending {
  state: string;
  nonce: string;
  verifier: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

type OpenidClient = typeof import('openid-client');
let openidClient: Promise<OpenidClient> | undefined;

/**
 * openid-client (with oauth4webapi and jose, ~1.5 MiB of heap) is imported only when console
 * sign-in is configured: the server loads it at start then (ConsoleOidc.load), so a missing or
 * broken module still stops the start, and a server without OIDC never loads it.
 */
function loadOpenidClient(): Promise<OpenidClient> {
  return (openidClient ??= import('openid-client'));
}

export class ConsoleOidc {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(
    private readonly issuer: URL,
    private readonly o: NonNullable<Config['auth']['console']['oidc']>,
    readonly redirectUri: string,
  ) {}

  /** The client for the configured console sign-in; undefined when none is configured. */
  static fromConfig(config: Config): ConsoleOidc | undefined {
    const o = config.auth.console.oidc;
    if (!o) return undefined;
    const issuer = new URL(o.issuer ?? entraIssuer(config.auth.entra!.tenantId, 2));
    const base = config.server.publicUrl?.replace(/\/+$/, '');
    const redirect = o.redirectUri ?? (base ? `${base}/ui/auth/callback` : undefined);
    if (!redirect) throw errors.badRequest('auth.console.oidc needs redirectUri, or server.publicUrl to derive it from');
    return new ConsoleOidc(issuer, o, redirect);
  }

  /** Loads openid-client (at start, when sign-in is configured): a module that cannot load stops the start. */
  async load(): Promise<void> {
    await loadOpenidClient();
  }

  /** The provider's metadata, discovered once; a provider that cannot be reached is a 503, tried again next time. */
  private discover(): Promise<oidc.Configuration> {
    this.configuration ??= loadOpenidClient()
      .then((client) =>
        client.discovery(
          this.issuer,
          this.o.clientId,
          { redirect_uris: [this.redirectUri], response_types: ['code'] },
          this.o.clientSecret ? client.ClientSecretPost(this.o.clientSecret) : client.None(),
          LOOPBACK.has(this.issuer.hostname) && this.issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {},
        ),
      )
      .catch((err: unknown) => {
        this.configuration = undefined;
        throw errors.unavailable(`the sign-in provider ${this.issuer.href} cannot be reached: ${(err as Error).message}`);
      });
    return this.configuration;
  }

  /**
   * The origins sign-in sends the browser to (the issuer's, and the discovered authorization
   * endpoint's): the sign-in page's CSP must allow its form to be redirected there.
   */
  async signInOrigins(): Promise<string[]> {
    const origins = new Set([this.issuer.origin]);
    try {
      const endpoint = (await this.discover()).serverMetadata().authorization_endpoint;
      if (endpoint) origins.add(new URL(endpoint).origin);
    } catch (err) {
      // A provider that cannot be reached now: the form still posts to /ui/auth/start (this
      // origin), which answers 503; the page is rendered with the issuer's origin only.
      if (!(err instanceof SafelistError) || err.status !== 503) throw err;
    }
    return [...origins];
  }

  /** Where to send the browser, and what to keep for the callback. */
  async start(): Promise<{ url: URL; pending: OidcPending }> {
    const config = await this.discover();
    const client = await loadOpenidClient();
    const pending = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: 'openid profile',
      response_type: 'code',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    });
    return { url, pending };
  }

  /**
   * Redeems the code of the callback URL; what the session keeps of the verified ID token (who,
   * its app-role and group claims) and the identity that gives now.
   */
  async finish(callbackUrl: URL, pending: OidcPending): Promise<{ stored: StoredIdentity; identity: Identity }> {
    const config = await this.discover();
    const client = await loadOpenidClient();
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      throw signInError(client, err);
    }
    if (!claims || typeof claims.oid !== 'string')
      throw errors.forbidden('the sign-in provider sent no "oid" claim; the app registration must issue it (scope profile)');
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, 500) : []);
    const roles = strings(claims[this.o.roleClaim]);
    const groups = strings(claims[this.o.groupClaim]);
    const name = [claims.preferred_username, claims.name, claims.oid].find((v): v is string => typeof v === 'string')!;
    const stored: StoredIdentity = { oid: claims.oid, name, via: 'entra', source: { kind: 'oidc', roles, groups } };
    return { stored, identity: { oid: claims.oid, name, via: 'entra', ...oidcRoles(this.o, claims.oid, roles, groups) } };
  }
}

/** A refusal by the provider or a bad callback is a 400 that says so; a provider that cannot be reached, a 503. */
function signInError(client: OpenidClient, err: unknown): SafelistError {
  if (err instanceof SafelistError) return err;
  if (err instanceof client.AuthorizationResponseError)
    return errors.badRequest(`the sign-in provider refused: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`);
  if (err instanceof client.ResponseBodyError) return errors.badRequest(`the sign-in provider refused the code: ${err.error}`);
  if (err instanceof client.ClientError) return errors.badRequest(`sign-in failed: ${err.message}; start again from the sign-in page`);
  return errors.unavailable(`the sign-in provider cannot be reached: ${(err as Error).message}`);
}
