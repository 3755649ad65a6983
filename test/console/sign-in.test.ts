// Console sign-in with OpenID Connect against a real provider (oidc-provider on 127.0.0.1):
// authorization code with PKCE over real HTTP, every redirect followed with a cookie jar; the ID
// token's app roles become the session's roles; a callback cannot be replayed or forged; a
// provider that cannot be reached is a 503 with Retry-After; a session made on one replica is
// honoured by another on the same PostgreSQL database, with the roles that replica's
// configuration gives (auth.console.oidc.roleGrants), derived on each request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, csrfOf } from '../support/console-client.js';
import { createPgDatabase } from '../support/databases.js';
import { signInThroughProvider, startOidcProvider, TEST_IDENTITIES, type TestOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

async function consoleWithOidc(
  op: TestOidcProvider | { consoleConfig: TestOidcProvider['consoleConfig'] },
  port: number,
  databaseUrl?: string,
) {
  const url = `http://127.0.0.1:${port}`;
  return startTestSafelist({
    ...(databaseUrl ? { databaseUrl } : {}),
    views: { 'team-a': {} },
    allowlist: 'packages:\n  - requests\n',
    extra: { server: { host: '127.0.0.1', port, logLevel: 'warn', publicUrl: url }, auth: { console: { oidc: op.consoleConfig(url) } } },
  });
}

describe('console sign-in with OpenID Connect', () => {
  let op: TestOidcProvider;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let a: TestSafelist;
  let b: TestSafelist;
  /** The port of a third replica, started by one test with other role grants. */
  let pc: number;

  beforeAll(async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    pc = await freePort();
    op = await startOidcProvider([`http://127.0.0.1:${pa}`, `http://127.0.0.1:${pb}`, `http://127.0.0.1:${pc}`], {
      ...TEST_IDENTITIES,
      nobody: { oid: 'oid-nora-none', name: 'nora@example.com', roles: [] },
      reader: { oid: 'oid-remy-reader', name: 'remy@example.com', roles: ['Safelist.Reader.team-a'] },
    });
    db = await createPgDatabase();
    a = await consoleWithOidc(op, pa, db.url);
    b = await consoleWithOidc(op, pb, db.url);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await db?.drop();
    await op?.stop();
  });

  it('signs a requester in through the provider, with the roles of the ID token', async () => {
    const c = new ConsoleClient(a.url);
    const page = await signInThroughProvider(c, 'requester', '/ui/?q=requests');
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${a.url}/ui/?q=requests`);
    expect(page.body).toContain('Signed in as <strong>rhea@example.com</strong> (requester)');
    // publicUrl is http://127.0.0.1: the one case where the cookie is not Secure (no __Host- prefix then).
    expect([...c.cookies.keys()]).toEqual(['safelist-console']);
  });

  it('sends the browser to the provider with PKCE (S256), state, nonce and its redirect URI', async () => {
    const c = new ConsoleClient(a.url);
    const signIn = await c.get('/ui/sign-in');
    const start = await c.request('POST', '/ui/auth/start', { form: { _csrf: csrfOf(signIn), next: '/ui/' } });
    expect(start.status).toBe(303);
    const to = new URL(start.headers.get('location')!);
    expect(to.origin).toBe(op.issuer);
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.get('state')).toBeTruthy();
    expect(to.searchParams.get('nonce')).toBeTruthy();
    expect(to.searchParams.get('redirect_uri')).toBe(`${a.url}/ui/auth/callback`);
    expect(to.searchParams.get('response_type')).toBe('code');
  });

  it("lets the sign-in form be redirected to the provider (CSP form-action), and no other page's form", async () => {
    const c = new ConsoleClient(a.url);
    const signIn = await c.get('/ui/sign-in');
    expect(signIn.headers.get('content-security-policy')).toContain(`form-action 'self' ${op.issuer};`);
    const home = await signInThroughProvider(c, 'requester');
    expect(home.headers.get('content-security-policy')).toContain("form-action 'self';");
  });

  it('maps the approver’s app role to the approver role', async () => {
    const page = await signInThroughProvider(new ConsoleClient(a.url), 'approver');
    expect(page.body).toMatch(/Signed in as <strong>abel@example\.com<\/strong> \((approver, requester|requester, approver)\)/);
  });

  it('refuses an identity without any Safelist app role (403 naming the roles to ask for), and signs in a reader', async () => {
    const c = new ConsoleClient(a.url);
    const page = await signInThroughProvider(c, 'nobody');
    expect(page.status).toBe(403);
    expect(page.body).toContain(
      'You are not admitted to the Safelist console: nora@example.com has no Safelist role: ask a Safelist administrator for one of the Entra app roles Safelist.Requester (to request exceptions), Safelist.Approver.&lt;view&gt;, Safelist.Auditor or Safelist.Admin, or Safelist.Reader.&lt;view&gt; to see a view&#39;s packages.',
    );
    expect(page.body).not.toContain('Signed in as');
    expect((await c.request('GET', '/ui/')).status).toBe(303);
    const reader = await signInThroughProvider(new ConsoleClient(a.url), 'reader');
    expect(reader.status).toBe(200);
    expect(reader.body).toContain('Signed in as <strong>remy@example.com</strong> (reader of team-a)');
  });

  it('refuses a replayed callback, and one without the sign-in it belongs to', async () => {
    const c = new ConsoleClient(a.url);
    const signIn = await c.get('/ui/sign-in');
    const login = await c.go('POST', '/ui/auth/start', { form: { _csrf: csrfOf(signIn), next: '/ui/' } });
    const action = /action="(\/interaction\/[^"]+\/login)"/.exec(login.body)![1]!;
    // Follow by hand up to the console's callback, to keep its URL.
    let hop = await c.request('POST', new URL(action, login.url).href, { form: { account: 'requester' } });
    while (!hop.headers.get('location')!.includes('/ui/auth/callback'))
      hop = await c.request('GET', new URL(hop.headers.get('location')!, hop.url).href);
    const callback = new URL(hop.headers.get('location')!, hop.url).href;
    const stranger = await new ConsoleClient(a.url).get(callback);
    expect(stranger.status).toBe(400);
    expect(stranger.body).toContain('this sign-in has expired or was already used');
    const first = await c.go('GET', callback);
    expect(first.body).toContain('Signed in as');
    const again = await c.get(callback);
    expect(again.status).toBe(400);
  });

  it('answers a forged state with 400, not a session', async () => {
    const c = new ConsoleClient(a.url);
    const signIn = await c.get('/ui/sign-in');
    await c.request('POST', '/ui/auth/start', { form: { _csrf: csrfOf(signIn), next: '/ui/' } });
    const forged = await c.get('/ui/auth/callback?code=abc&state=not-the-state');
    expect(forged.status).toBe(400);
    expect((await c.request('GET', '/ui/')).status).toBe(303);
  });

  it('honours a session made on one replica on the other (sessions live in the database)', async () => {
    const ca = new ConsoleClient(a.url);
    await signInThroughProvider(ca, 'requester');
    const cb = new ConsoleClient(b.url);
    for (const [k, v] of ca.cookies) cb.cookies.set(k, v);
    const page = await cb.request('GET', '/ui/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('rhea@example.com');
    // Signing out on b ends it on a as well.
    await cb.post('/ui/sign-out', page);
    expect((await ca.request('GET', '/ui/')).status).toBe(303);
  });

  it("derives the roles on each request from the ID token's claims and the replica's configuration (roleGrants by group and user)", async () => {
    const port = pc;
    const url = `http://127.0.0.1:${port}`;
    const granted = await startTestSafelist({
      databaseUrl: db.url,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'warn', publicUrl: url },
        auth: {
          console: {
            oidc: {
              ...op.consoleConfig(url),
              roleGrants: [
                { group: 'grp-ml-reviewers', roles: ['approver'], views: ['team-a'] },
                { user: 'oid-rhea-requester', roles: ['auditor'] },
              ],
            },
          },
        },
      },
    });
    try {
      const c = new ConsoleClient(granted.url);
      await signInThroughProvider(c, 'requester');
      const withGrants = await c.request('GET', '/ui/');
      expect(withGrants.body).toMatch(/rhea@example\.com<\/strong> \((requester|approver|auditor)(, (requester|approver|auditor)){2}\)/);
      expect((await c.request('GET', '/ui/audit')).status).toBe(200);
      // The same session on a replica whose configuration has no grants: the ID token's app role only.
      const other = new ConsoleClient(a.url);
      for (const [k, v] of c.cookies) other.cookies.set(k, v);
      const plain = await other.request('GET', '/ui/');
      expect(plain.body).toContain('rhea@example.com</strong> (requester)');
      expect((await other.request('GET', '/ui/audit')).status).toBe(403);
    } finally {
      await granted.stop();
    }
  });

  it('answers 503 with Retry-After when the provider cannot be reached', async () => {
    const gone = await freePort();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${gone}`;
    const sl = await consoleWithOidc(
      { consoleConfig: (u: string) => ({ issuer, clientId: 'x', clientSecret: 'y', redirectUri: `${u}/ui/auth/callback` }) },
      port,
    );
    try {
      const c = new ConsoleClient(sl.url);
      const signIn = await c.get('/ui/sign-in');
      const res = await c.request('POST', '/ui/auth/start', { form: { _csrf: csrfOf(signIn) } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('30');
      expect(res.body).toContain('the sign-in provider');
    } finally {
      await sl.stop();
    }
  });
});
