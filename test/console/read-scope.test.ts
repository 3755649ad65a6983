// The console with package reads behind tokens (auth.packageRead: token), signed in with static
// tokens over real HTTP: the search and package pages show only the views the identity may read
// (as /api/v1/policy/why and the read paths), refuse another view with the read path's 403 naming
// it and what to ask for, and say nothing of a view that does not exist. An identity with no role
// and no read grant is refused at sign-in (403 saying what to ask for) and its session never
// starts; a reader (read grants, no role) signs in to see its views' packages and nothing more,
// and its session ends once its grants are taken away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/identity.js';
import type { Config } from '../../src/config/schema.js';
import { sessionIdentityResolver } from '../../src/console/roles.js';
import { SessionStore } from '../../src/console/session.js';
import { ConsoleClient, flat } from '../support/console-client.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKENS = {
  requester: 'console-scope-requester-0123456789',
  reader: 'console-scope-reader-0123456789',
  nobody: 'console-scope-nobody-0123456789',
  approver: 'console-scope-approver-0123456789',
  admin: 'console-scope-admin-0123456789',
};
const TOKEN_CONFIG = [
  { id: 'rita', name: 'Rita', token: TOKENS.requester, roles: ['requester'], read: ['team-a'] },
  { id: 'ws-team-b', token: TOKENS.reader, read: ['team-b'] },
  { id: 'ws-nothing', token: TOKENS.nobody, roles: [], read: [] },
  { id: 'abe', name: 'Abe', token: TOKENS.approver, roles: ['approver'], views: ['team-a'], read: [] },
  { id: 'ada', token: TOKENS.admin, roles: ['admin'] },
];

describe('the console when package reads need a token', () => {
  let sl: TestSafelist;
  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {}, 'team-b': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: { server: { host: '127.0.0.1', port: 0, logLevel: 'warn' }, auth: { packageRead: 'token', tokens: TOKEN_CONFIG } },
    });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  async function signedIn(token: string): Promise<ConsoleClient> {
    const c = new ConsoleClient(sl.url);
    expect((await c.signInWithToken(token)).status).toBe(200);
    return c;
  }
  /** The views a page's view picker offers. */
  const offered = (body: string) => [...body.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);

  it('shows the search and package pages of the views a token reads, and refuses the others with what to ask for', async () => {
    const rita = await signedIn(TOKENS.requester);
    // No view asked: the first view it reads, not "default" (which it does not).
    const home = await rita.get('/ui/?q=requests');
    expect(home.status).toBe(200);
    expect(flat(home)).toContain('<caption class="visually-hidden">Search results in view team-a</caption>');
    expect(offered(home.body).filter((v) => !['all', 'pypi', 'conda', 'oci', 'npm'].includes(v!))).toEqual(['team-a']);
    expect((await rita.get('/ui/packages/pypi/requests?view=team-a')).status).toBe(200);
    expect((await rita.get('/ui/packages/pypi/requests')).body).toContain('name=requests&amp;view=team-a&amp;versions=');
    for (const path of [
      '/ui/?q=requests&view=team-b',
      '/ui/packages/pypi/requests?view=team-b',
      '/ui/packages/pypi/requests?view=default',
    ]) {
      const page = await rita.get(path);
      expect(page.status, path).toBe(403);
      const view = path.slice(path.indexOf('view=') + 5);
      expect(page.body).toContain(
        `Rita may not read the packages of view &quot;${view}&quot; (it reads: team-a); ask a Safelist administrator to add ${view} to read: of token rita in auth.tokens`,
      );
      expect(page.body).not.toContain('Rules that name it');
    }
    // A view that does not exist: the same 403, not a 404 listing the views.
    expect((await rita.get('/ui/packages/pypi/requests?view=no-such-view')).status).toBe(403);
    const admin = await signedIn(TOKENS.admin);
    expect((await admin.get('/ui/packages/pypi/requests?view=team-b')).status).toBe(200);
    expect((await admin.get('/ui/packages/pypi/requests?view=no-such-view')).status).toBe(404);
  });

  it('refuses sign-in to a token with no role and no read grant, saying what to ask for, and starts no session', async () => {
    const c = new ConsoleClient(sl.url);
    const page = await c.signInWithToken(TOKENS.nobody);
    expect(page.status).toBe(403);
    expect(page.body).toContain(
      'You are not admitted to the Safelist console: the token ws-nothing has no Safelist role and reads no view: ask a Safelist administrator to give it roles (requester to request exceptions, approver, auditor, admin) or read: [&lt;view&gt;] to see a view&#39;s packages, in auth.tokens.',
    );
    expect(page.body).not.toContain('Signed in as');
    const after = await c.request('GET', '/ui/');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/ui\/sign-in/);
  });

  it('lands an identity admitted for its roles alone (reads no view) on a search page that says why it is empty', async () => {
    const approver = await signedIn(TOKENS.approver);
    const home = await approver.get('/ui/');
    expect(home.status).toBe(200);
    expect(flat(home)).toContain("You read no view's packages, so there is nothing to search here");
    expect(home.body).not.toContain('role="search"');
    // Asking for a view by name is still the read path's 403, and its own pages open.
    expect((await approver.get('/ui/?view=team-a')).status).toBe(403);
    expect((await approver.get('/ui/queue')).status).toBe(200);
  });

  it('lets a reader (read grants, no role) see its views’ packages and nothing it has no role for', async () => {
    const reader = await signedIn(TOKENS.reader);
    const home = await reader.get('/ui/?q=requests');
    expect(home.status).toBe(200);
    expect(home.body).toContain('Signed in as <strong>ws-team-b</strong> (reader of team-b)');
    expect(flat(home)).toContain('Search results in view team-b');
    expect((await reader.get('/ui/packages/pypi/requests')).status).toBe(200);
    expect((await reader.get('/ui/packages/pypi/requests?view=team-a')).status).toBe(403);
    // Requesting is the requester role's; deciding and auditing are others'.
    for (const path of ['/ui/request?name=requests&view=team-b', '/ui/queue', '/ui/audit', '/ui/demand'])
      expect((await reader.get(path)).status, path).toBe(403);
    expect((await reader.get('/ui/requests')).status).toBe(200);

    // Its read grant taken away (a replica with the new configuration reads the same session): the session ends.
    const config = {
      ...sl.config,
      auth: {
        ...sl.config.auth,
        tokens: TOKEN_CONFIG.map((t) => ({ views: [], roles: [], ...t, ...(t.id === 'ws-team-b' ? { read: [] } : {}) })),
      },
    } as unknown as Config;
    const replica = new SessionStore(sl.runtime.db, 3_600_000, sessionIdentityResolver(config, new Authenticator(config.auth)));
    expect(await replica.find([...reader.cookies.values()][0])).toBeUndefined();
    expect((await reader.request('GET', '/ui/')).status).toBe(303);
  });
});
