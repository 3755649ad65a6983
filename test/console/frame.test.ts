// The console's frame over real HTTP: the CSP and OWASP headers on every answer (pages, the
// sign-in page, errors, assets), strong ETags on the assets, the static-token sign-in and
// sign-out, CSRF refused without the session's token, escaping of hostile text, and bad input
// answered with a 4xx page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSP } from '../../src/console/app.js';
import { ConsoleClient, csrfOf } from '../support/console-client.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const REQUESTER = 'console-requester-token-0123456789';

describe('console frame', () => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: { auth: { tokens: [{ id: 'oid-rita', name: 'Rita', token: REQUESTER, roles: ['requester'] }] } },
    });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  const expectHeaders = (h: Headers) => {
    expect(h.get('content-security-policy')).toBe(CSP);
    expect(h.get('x-content-type-options')).toBe('nosniff');
    expect(h.get('x-frame-options')).toBe('DENY');
    expect(h.get('referrer-policy')).toBe('no-referrer');
  };

  it('sends the security headers on pages, redirects, errors and assets', async () => {
    const c = new ConsoleClient(sl.url);
    const home = await c.request('GET', '/ui/');
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/ui/sign-in?next=%2Fui%2F');
    expectHeaders(home.headers);
    const signIn = await c.get('/ui/sign-in');
    expect(signIn.status).toBe(200);
    expectHeaders(signIn.headers);
    expect(signIn.body).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="/i);
    const missing = await c.get('/ui/no-such-page');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^text\/html/);
    expectHeaders(missing.headers);
    const css = /href="(\/ui\/assets\/console\.css\?v=[^"]+)"/.exec(signIn.body)![1]!;
    const asset = await c.request('GET', css);
    expect(asset.status).toBe(200);
    expectHeaders(asset.headers);
    const etag = asset.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect((await c.request('GET', css, { headers: { 'if-none-match': etag } })).status).toBe(304);
    // The API keeps its own answers: the console's headers are scoped to /ui.
    const api = await fetch(`${sl.url}/healthz`);
    expect(api.headers.get('content-security-policy')).toBeNull();
  });

  it('signs in with a static token, refuses a bad one with a 401 page, and signs out', async () => {
    const c = new ConsoleClient(sl.url);
    const bad = await c.signInWithToken('not-a-real-token-at-all');
    expect(bad.status).toBe(401);
    expect(bad.body).toContain('the token is not valid for this Safelist');
    const home = await c.signInWithToken(REQUESTER);
    expect(home.status).toBe(200);
    expect(home.url).toBe(`${sl.url}/ui/`);
    expect(home.body).toContain('Signed in as <strong>Rita</strong>');
    for (const href of ['/ui/gate', '/ui/demand', '/ui/sync', '/ui/audit', '/ui/onboarding']) expect(home.body).toContain(`href="${href}"`);
    const cookie = [...c.cookies.keys()][0]!;
    expect(cookie).toBe('__Host-safelist-console');
    const out = await c.post('/ui/sign-out', home);
    expect(out.url).toBe(`${sl.url}/ui/sign-in`);
    expect(c.cookies.size).toBe(1); // a fresh visitor session for the sign-in form, not the old one
    expect((await c.request('GET', '/ui/')).status).toBe(303);
  });

  it('issues a new session id at sign-in (no fixation) with HttpOnly, Secure, SameSite=Lax', async () => {
    const c = new ConsoleClient(sl.url);
    const form = await c.get('/ui/sign-in');
    const before = c.cookies.get('__Host-safelist-console');
    const res = await c.request('POST', '/ui/sign-in', { form: { _csrf: csrfOf(form), token: REQUESTER } });
    expect(res.status).toBe(303);
    const set = res.headers.getSetCookie().join('\n');
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/Secure/);
    expect(set).toMatch(/SameSite=Lax/);
    expect(c.cookies.get('__Host-safelist-console')).not.toBe(before);
  });

  it('ends a session at its expiry (the row stays, the cookie no longer signs in)', async () => {
    const c = new ConsoleClient(sl.url);
    expect((await c.signInWithToken(REQUESTER)).status).toBe(200);
    const [row] = await sl.runtime.db.query<{ expires_at: Date }>(
      "SELECT expires_at FROM console_sessions WHERE identity->>'oid' = 'oid-rita' ORDER BY created_at DESC LIMIT 1",
    );
    // The configured lifetime (auth.console.sessionTtl, 8h by default) from sign-in.
    expect(new Date(row!.expires_at).getTime() - Date.now()).toBeGreaterThan(7.9 * 3600_000);
    await sl.runtime.db.query("UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE identity->>'oid' = 'oid-rita'");
    const after = await c.request('GET', '/ui/');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/ui\/sign-in/);
  });

  it('refuses a POST without the CSRF token, or with another session’s, with 403', async () => {
    const c = new ConsoleClient(sl.url);
    await c.signInWithToken(REQUESTER);
    const none = await c.request('POST', '/ui/sign-out', { form: {} });
    expect(none.status).toBe(403);
    expect(none.body).toContain('CSRF token missing or wrong');
    const other = new ConsoleClient(sl.url);
    const otherPage = await other.get('/ui/sign-in');
    const wrong = await c.request('POST', '/ui/sign-out', { form: { _csrf: csrfOf(otherPage) } });
    expect(wrong.status).toBe(403);
    // No session at all: the sign-in form cannot be posted blind either.
    const blind = await new ConsoleClient(sl.url).request('POST', '/ui/sign-in', { form: { token: REQUESTER } });
    expect(blind.status).toBe(403);
    // Still signed in: the refused sign-out did nothing.
    expect((await c.request('GET', '/ui/')).status).toBe(200);
  });

  it('escapes hostile text and answers bad input with a 4xx page', async () => {
    const c = new ConsoleClient(sl.url);
    await c.signInWithToken(REQUESTER);
    const hostile = '<script>alert(1)</script>"\'&';
    const page = await c.get(`/ui/?q=${encodeURIComponent(hostile)}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
    const tooLong = await c.get(`/ui/?q=${'a'.repeat(500)}`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toContain('invalid query');
    const nul = await c.request('POST', '/ui/sign-out', { form: { _csrf: csrfOf(page), note: 'a\u0000b' } });
    expect(nul.status).toBe(400);
    const next = await new ConsoleClient(sl.url).get('/ui/sign-in?next=//evil.example/');
    expect(next.body).toContain('name="next" value="/ui/"');
  });
});
