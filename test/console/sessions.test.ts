// Console sessions against the current configuration, on both database modes: a session's roles
// come from its sign-in (the static token's hash) and the configuration as it is now, so a token
// withdrawn or a role taken from it holds on the next request (a replica started with the new
// configuration reads the same session row); "sign out everywhere" ends every session of one's
// own, on every browser; an admin ends another identity's sessions from the console or the API.
// Each ending is audited with who did it; without the CSRF token or the admin role, nothing ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/identity.js';
import type { Config } from '../../src/config/schema.js';
import { sessionIdentityResolver } from '../../src/console/roles.js';
import { SessionStore } from '../../src/console/session.js';
import { ConsoleClient } from '../support/console-client.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKENS = { admin: 'sess-admin-token-0123456789', requester: 'sess-requester-token-0123456789' };
const ADA = { id: 'oid-ada', name: 'Ada', token: TOKENS.admin, roles: ['admin'] as const };
const RITA = { id: 'oid-rita', name: 'Rita', token: TOKENS.requester, roles: ['requester'] as const };

describe.each(DB_MODES)('console sessions on %s', (mode) => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db: mode,
      views: { 'team-a': {} },
      extra: {
        server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
        auth: { tokens: [ADA, RITA] },
      },
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
  const cookieOf = (c: ConsoleClient) => [...c.cookies.values()][0]!;

  /** The session store of a replica started with `tokens` instead (same database). */
  function replicaWith(tokens: Array<Record<string, unknown>>): SessionStore {
    const config = { ...sl.config, auth: { ...sl.config.auth, tokens: tokens.map((t) => ({ views: [], ...t })) } } as unknown as Config;
    return new SessionStore(sl.runtime.db, 3_600_000, sessionIdentityResolver(config, new Authenticator(config.auth)));
  }

  it("derives a session's roles from the configuration on each request: a role taken from a token, or the token withdrawn, holds at once", async () => {
    const rita = await signedIn(TOKENS.requester);
    expect((await rita.get('/ui/requests')).status).toBe(200);

    const promoted = await replicaWith([ADA, { ...RITA, roles: ['requester', 'approver'], views: ['team-a'] }]).find(cookieOf(rita));
    expect([...promoted!.identity!.roles].sort()).toEqual(['approver', 'requester']);
    const demoted = await replicaWith([ADA, { ...RITA, roles: ['auditor'] }]).find(cookieOf(rita));
    expect([...demoted!.identity!.roles]).toEqual(['auditor']);
    // The same id given to another token (the token itself replaced): not this session's sign-in any more.
    expect(await replicaWith([ADA, { ...RITA, token: 'a-new-token-for-rita-0123456789' }]).find(cookieOf(rita))).toBeUndefined();
    // …and that replica ended the session for every replica: this one sends Rita to sign in.
    const after = await rita.request('GET', '/ui/requests');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/ui\/sign-in/);

    // A row written before sessions kept their sign-in (roles stored, no source) is not trusted.
    const old = await signedIn(TOKENS.requester);
    await sl.runtime.db.query(
      `UPDATE console_sessions SET identity = identity - 'source' || '{"roles": ["admin"]}'::jsonb WHERE identity ->> 'oid' = 'oid-rita'`,
    );
    expect((await old.request('GET', '/ui/requests')).status).toBe(303);
  });

  it('"sign out everywhere" ends every session of mine, in every browser, audited; never without the CSRF token', async () => {
    const [here, there] = [await signedIn(TOKENS.requester), await signedIn(TOKENS.requester)];
    const ada = await signedIn(TOKENS.admin);
    const page = await here.get('/ui/sessions');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Sign out everywhere');
    expect(page.body).not.toContain('Everyone&#39;s sessions');

    const forged = await here.go('POST', '/ui/sessions/end-mine', { form: {} });
    expect(forged.status).toBe(403);
    expect((await there.request('GET', '/ui/requests')).status).toBe(200);

    const done = await here.post('/ui/sessions/end-mine', page);
    expect(done.url).toMatch(/\/ui\/sign-in$/);
    expect((await here.request('GET', '/ui/requests')).status).toBe(303);
    expect((await there.request('GET', '/ui/requests')).status).toBe(303);
    expect((await ada.request('GET', '/ui/requests')).status).toBe(200); // someone else's stay
    const [record] = await sl.runtime.audit.query({ action: 'console.signed-out-everywhere', newestFirst: true, limit: 1 });
    expect(record).toMatchObject({ actor: 'oid-rita', subject: 'oid-rita', detail: { sessions: 2, via: 'console' } });
  });

  it("lets an admin end another identity's sessions from the console, audited; a requester cannot", async () => {
    const rita = await signedIn(TOKENS.requester);
    const ada = await signedIn(TOKENS.admin);
    const list = await ada.get('/ui/sessions');
    expect(list.body).toContain('Identities signed in now');
    expect(list.body).toContain('<code>oid-rita</code>');

    const refused = await rita.post('/ui/sessions/end', await rita.get('/ui/sessions'), { oid: 'oid-ada' });
    expect(refused.status).toBe(403);
    expect((await ada.request('GET', '/ui/sessions')).status).toBe(200);

    const ended = await ada.post('/ui/sessions/end', list, { oid: 'oid-rita' });
    expect(ended.status).toBe(200);
    expect(ended.body).toContain('Ended 1 session(s) of oid-rita.');
    expect((await rita.request('GET', '/ui/requests')).status).toBe(303);
    const [record] = await sl.runtime.audit.query({ action: 'console.sessions-revoked', newestFirst: true, limit: 1 });
    expect(record).toMatchObject({ actor: 'oid-ada', subject: 'oid-rita', detail: { sessions: 1, via: 'console' } });
  });

  it("ends an identity's sessions through the admin API (DELETE /api/v1/console/sessions/{oid}), audited; 403 for others", async () => {
    const rita = await signedIn(TOKENS.requester);
    const del = (token: string, oid: string) =>
      fetch(`${sl.url}/api/v1/console/sessions/${encodeURIComponent(oid)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await del(TOKENS.requester, 'oid-rita')).status).toBe(403);
    expect((await rita.request('GET', '/ui/requests')).status).toBe(200);

    const res = await del(TOKENS.admin, 'oid-rita');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ oid: 'oid-rita', ended: 1 });
    expect((await rita.request('GET', '/ui/requests')).status).toBe(303);
    const [record] = await sl.runtime.audit.query({ action: 'console.sessions-revoked', newestFirst: true, limit: 1 });
    expect(record).toMatchObject({ actor: 'oid-ada', subject: 'oid-rita', detail: { sessions: 1, via: 'api' } });
    expect(await (await del(TOKENS.admin, 'oid-nobody')).json()).toEqual({ oid: 'oid-nobody', ended: 0 });
  });
});
