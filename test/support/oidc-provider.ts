// A local OpenID provider for console tests: panva's oidc-provider (a certified OP) on
// 127.0.0.1 with discovery, JWKS, authorization and token endpoints, PKCE required, and a
// sign-in page of its own where a test (or chromium) picks one of the test identities. Its ID
// tokens carry Entra's claims: oid, name, preferred_username, app roles (Safelist.*) and groups.
// Shared by the console's HTTP tests and the browser test.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface TestIdentity {
  oid: string;
  name: string;
  roles: string[];
  /** Entra's groups claim (object ids), for auth.console.oidc.roleGrants. */
  groups?: string[];
}

/** The two identities every console test knows: one who requests, another who approves. */
export const TEST_IDENTITIES: Record<'requester' | 'approver', TestIdentity> = {
  requester: { oid: 'oid-rhea-requester', name: 'rhea@example.com', roles: ['Safelist.Requester'], groups: ['grp-ml-reviewers'] },
  approver: { oid: 'oid-abel-approver', name: 'abel@example.com', roles: ['Safelist.Approver', 'Safelist.Requester'], groups: [] },
};

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The auth.console.oidc block for the Safelist whose console answers at consoleUrl (given to startOidcProvider). */
  consoleConfig(consoleUrl: string): { issuer: string; clientId: string; clientSecret: string; redirectUri: string };
  stop(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return new URLSearchParams(text);
}

/** The provider's sign-in page: one button per identity (a form post; no script). */
function renderLogin(uid: string, identities: Record<string, TestIdentity>): string {
  const buttons = Object.entries(identities)
    .map(([key, id]) => `<button type="submit" name="account" value="${esc(key)}">Sign in as ${esc(id.name)} (${esc(key)})</button>`)
    .join('\n');
  return `<!doctype html><html lang="en"><head><title>Test identity provider</title></head><body><main>
    <h1>Test identity provider</h1><form method="post" action="/interaction/${esc(uid)}/login">${buttons}</form></main></body></html>`;
}

/** The console's redirect URI at a base URL (what the provider registers and Safelist sends). */
export const callbackOf = (consoleUrl: string) => `${consoleUrl.replace(/\/+$/, '')}/ui/auth/callback`;

/**
 * Starts the provider with one confidential client whose redirect URIs are the consoles at
 * `consoleUrls` (clients are static configuration in oidc-provider, so they are known first).
 */
export async function startOidcProvider(
  consoleUrls: string[],
  identities: Record<string, TestIdentity> = TEST_IDENTITIES,
): Promise<TestOidcProvider> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const clientId = 'safelist-console';
  const clientSecret = randomBytes(24).toString('base64url');
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: consoleUrls.map(callbackOf),
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-op-key', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'oid', 'roles', 'groups'] },
    features: { devInteractions: { enabled: false } },
    // Short lives, said explicitly (the provider warns about each default otherwise).
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Grant: 600, Session: 600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const id = Object.values(identities).find((i) => i.oid === sub);
      if (!id) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, oid: id.oid, name: id.name, preferred_username: id.name, roles: id.roles, groups: id.groups ?? [] }),
      };
    },
  });
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url ?? '');
    if (!m) return void callback(req, res);
    void interaction(req, res, m[1]!, Boolean(m[2])).catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message);
    });
  });

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, login: boolean): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (!login) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderLogin(uid, identities));
    const account = identities[(await readForm(req)).get('account') ?? ''];
    if (!account) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('pick one of the test identities');
    const grant = new provider.Grant({ accountId: account.oid, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.oid }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  return {
    issuer,
    clientId,
    clientSecret,
    consoleConfig: (consoleUrl) => ({ issuer, clientId, clientSecret, redirectUri: callbackOf(consoleUrl) }),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Signs a console client in through the provider as one of its identities: the console's
 * "Sign in with Microsoft" form, the provider's page, its button, and every redirect back.
 * Resolves with the page the console lands on.
 */
export async function signInThroughProvider(
  client: import('./console-client.js').ConsoleClient,
  account: string,
  next = '/ui/',
): Promise<import('./console-client.js').Page> {
  const { csrfOf } = await import('./console-client.js');
  const signIn = await client.get(`/ui/sign-in?next=${encodeURIComponent(next)}`);
  const login = await client.go('POST', '/ui/auth/start', { form: { _csrf: csrfOf(signIn), next } });
  const action = /action="(\/interaction\/[^"]+\/login)"/.exec(login.body)?.[1];
  if (!action) throw new Error(`the provider's sign-in page was not reached (${login.status} ${login.url}): ${login.body.slice(0, 300)}`);
  return client.go('POST', new URL(action, login.url).href, { form: { account } });
}
