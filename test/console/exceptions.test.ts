// The people's side of the console over real HTTP, on both database modes: a requester finds a
// blocked package (search with a typo), reads why per version with the allowlist line, sees the
// triage before submitting and requests the package together with its missing dependency; roles
// are enforced (a requester cannot reach the queue, an approver cannot approve their own
// request); an approver decides both at once with a note and the package page then shows the
// versions allowed by that exception; withdrawing, hostile text escaped, bad input as 4xx pages.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { ConsoleClient, flat, type Page } from '../support/console-client.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { SYSTEM } from '../../src/exceptions/scope.js';

const TOKENS = {
  requester: 'console-requester-token-0123456789',
  approver: 'console-approver-token-0123456789',
  // Both roles: may approve for team-a, but never what they asked for themselves.
  both: 'console-both-roles-token-0123456789',
};

const HOSTILE = '<img src=x onerror=alert(1)> needed for the <script>alert(2)</script> pipeline';

describe.each(DB_MODES)('console exceptions workflow (%s)', (db) => {
  let sl: TestSafelist;
  let work: string;
  const as: Record<keyof typeof TOKENS, ConsoleClient> = {} as never;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-console-'));
    const dist = join(work, 'dist');
    for (const v of ['1.0', '2.0'])
      await buildWheel(dist, { name: 'demo-pkg', version: v, requiresDist: ['helper-lib>=1', 'pytest; extra == "test"'], license: 'MIT' });
    sl = await startTestSafelist({
      db,
      views: { 'team-a': {}, 'team-b': {} },
      allowlist: 'packages:\n  - requests\n  - "demo-pkg<1"\n',
      extra: {
        auth: {
          tokens: [
            { id: 'oid-rita', name: 'Rita', token: TOKENS.requester, roles: ['requester'] },
            { id: 'oid-abe', name: 'Abe', token: TOKENS.approver, roles: ['approver'], views: ['team-a'] },
            { id: 'oid-sam', name: 'Sam', token: TOKENS.both, roles: ['requester', 'approver'], views: ['team-a'] },
          ],
        },
      },
    });
    await importPypiDir(dist, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    for (const k of Object.keys(TOKENS) as Array<keyof typeof TOKENS>) {
      as[k] = new ConsoleClient(sl.url);
      expect((await as[k].signInWithToken(TOKENS[k])).status).toBe(200);
    }
  });
  afterAll(async () => {
    await sl?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('finds a package by a typo and explains each version with the rule it comes from', async () => {
    const hits = await as.requester.get('/ui/?q=demo-pgk&view=team-a');
    expect(flat(hits)).toContain(
      '<a href="/ui/packages/pypi/demo-pkg?view=team-a">demo-pkg</a><span class="muted">(close match)</span></td><td>pypi</td><td class="status-blocked">blocked</td>',
    );
    const page = await as.requester.get('/ui/packages/pypi/Demo_Pkg?view=team-a');
    expect(page.status).toBe(200);
    const rows = [...flat(page).matchAll(/<th scope="row">([^<]+)<\/th><td class="status-(\w+)">/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      ['1.0', 'blocked'],
      ['2.0', 'blocked'],
    ]);
    expect(flat(page)).toMatch(/allowlist [^<]*pypi\.yaml:3 \(&lt;1\)/);
    expect(flat(page)).toContain('href="/ui/request?ecosystem=pypi&amp;name=demo-pkg&amp;view=team-a&amp;versions=%3D%3D1.0"');
  });

  it('shows the triage before submitting and requests the package with its missing dependency', async () => {
    const form = await as.requester.get('/ui/request?ecosystem=pypi&name=demo-pkg&view=team-a&versions=%3D%3D1.0');
    expect(form.status).toBe(200);
    expect(flat(form)).toContain('Upstream versions: 1.0, 2.0');
    expect(flat(form)).toContain('Licence: MIT');
    expect(flat(form)).toMatch(
      /<input type="checkbox" name="also" form="request-form" id="draft-dep-0" value="helper-lib&gt;=1" checked \/>/,
    );
    expect(flat(form)).not.toContain('pytest'); // extras are not installed by default
    const done = await as.requester.post('/ui/request', form, {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==1.0',
      view: 'team-a',
      reason: HOSTILE,
      also: 'helper-lib>=1',
    });
    expect(done.status).toBe(200);
    expect(done.url).toMatch(/\/ui\/requests\?created=EXC-\d+,EXC-\d+$/);
    const [main, dep] = new URL(done.url).searchParams.get('created')!.split(',');
    const depRecord = await sl.runtime.exceptions.get(dep!, SYSTEM);
    expect(depRecord).toMatchObject({ name: 'helper-lib', versions: '>=1', view: 'team-a', bundle: main, state: 'requested' });
    expect(flat(done)).toContain(`<span class="muted">with ${main}</span>`);
    // The request's own page (where notifications link): the dependency asked with it, withdraw for its requester.
    const detail = await as.requester.get(`/ui/requests/${main}`);
    expect(flat(detail)).toContain(`<dt>Asked together with it</dt><dd><a href="/ui/requests/${dep}">${dep}</a>(helper-lib &gt;=1)</dd>`);
    expect(flat(detail)).toContain(`action="/ui/requests/${main}/withdraw"`);
    expect(flat(detail)).not.toContain('name="decision"');
    const forApprover = await as.approver.get(`/ui/requests/${dep}`);
    expect(flat(forApprover)).toContain(`<dt>Asked together with</dt><dd><a href="/ui/requests/${main}">${main}</a></dd>`);
    expect(flat(forApprover)).toContain('<button type="submit" name="decision" value="approve">Approve</button>');
  });

  it('keeps requesters out of the queue and approvers off their own requests', async () => {
    expect((await as.requester.get('/ui/queue')).status).toBe(403);
    const home = await as.requester.get('/ui/requests');
    const [pending] = await sl.runtime.exceptions.list({ state: 'requested', requestedBy: 'oid-rita' }, SYSTEM);
    const post = await as.requester.post('/ui/queue/decide', home, { ids: pending!.id, decision: 'approve' });
    expect(post.status).toBe(403);
    // Sam may approve for team-a, and asks for something himself: the queue says why he cannot decide it.
    const form = await as.both.get('/ui/request?ecosystem=pypi&name=other-lib&view=team-a');
    const mine = await as.both.post('/ui/request', form, {
      ecosystem: 'pypi',
      name: 'other-lib',
      view: 'team-a',
      reason: 'needed for my own notebook',
    });
    const id = new URL(mine.url).searchParams.get('created')!;
    const queue = await as.both.get('/ui/queue?scope=all&view=team-a');
    expect(flat(queue)).toContain('you requested this: another approver must decide it (separation of duties)');
    expect(flat(queue)).not.toContain(`value="${id}"`);
    const detail = await as.both.get(`/ui/requests/${id}`);
    expect(flat(detail)).toContain(
      'You cannot decide this request: you requested this: another approver must decide it (separation of duties).',
    );
    const own = await as.both.post('/ui/queue/decide', queue, { ids: id, decision: 'approve' });
    expect(own.status).toBe(403);
    expect(flat(own)).toContain('the approver must not be the requester');
    expect((await sl.runtime.exceptions.get(id, SYSTEM)).state).toBe('requested');
  });

  it('lets an approver decide several requests at once, and the policy follows', async () => {
    const queue = await as.approver.get('/ui/queue');
    expect(queue.status).toBe(200);
    // Hostile text from the requester is shown as text.
    expect(flat(queue)).not.toContain('<img src=x');
    expect(flat(queue)).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const rita = await sl.runtime.exceptions.list({ state: 'requested', requestedBy: 'oid-rita' }, SYSTEM);
    const ids = rita.map((e) => e.id);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(flat(queue)).toContain(`name="ids" value="${id}"`);
    const done = await as.approver.post('/ui/queue/decide', queue, { ids, decision: 'approve', note: 'fine <b>for</b> team-a' });
    expect(done.status).toBe(200);
    expect(flat(done)).toMatch(new RegExp(`Approved: (${ids.join(', ')}|${[...ids].reverse().join(', ')})\\.`));
    for (const id of ids) expect((await sl.runtime.exceptions.get(id, SYSTEM)).state).toBe('active');
    const page = await as.requester.get('/ui/packages/pypi/demo-pkg?view=team-a');
    expect(flat(page)).toMatch(/<th scope="row">1\.0<\/th><td class="status-allowed">/);
    expect(flat(page)).toMatch(/<th scope="row">2\.0<\/th><td class="status-blocked">/);
    expect(flat(page)).toContain('pip install --index-url');
    // Another view is untouched.
    const other = await as.requester.get('/ui/packages/pypi/demo-pkg?view=team-b');
    expect(flat(other)).toMatch(/<th scope="row">1\.0<\/th><td class="status-blocked">/);
    const mine = await as.requester.get('/ui/requests');
    expect(flat(mine)).toContain('fine &lt;b&gt;for&lt;/b&gt; team-a');
    expect((await as.approver.post('/ui/queue/decide', queue, { ids: ids[0]!, decision: 'reject' })).status).toBe(409);
  });

  it('lets a requester withdraw a pending request', async () => {
    const form = await as.requester.get('/ui/request?ecosystem=pypi&name=third-lib&view=team-b');
    const made = await as.requester.post('/ui/request', form, {
      ecosystem: 'pypi',
      name: 'third-lib',
      view: 'team-b',
      reason: 'trying it out in team b',
    });
    const id = new URL(made.url).searchParams.get('created')!;
    expect(flat(made)).toContain(`action="/ui/requests/${id}/withdraw"`);
    const gone = await as.requester.post(`/ui/requests/${id}/withdraw`, made);
    expect(gone.url).toMatch(new RegExp(`withdrawn=${id}$`));
    expect((await sl.runtime.exceptions.get(id, SYSTEM)).state).toBe('revoked');
  });

  it('answers bad input with a 4xx page that says what to fix', async () => {
    const c = as.requester;
    const expect4xx = (p: Page, status: number, text: string) => {
      expect(p.status).toBe(status);
      expect(p.headers.get('content-type')).toMatch(/^text\/html/);
      expect(flat(p)).toContain(text);
    };
    const form = await c.get('/ui/request?ecosystem=pypi&name=demo-pkg&view=team-a');
    expect4xx(
      await c.post('/ui/request', form, { ecosystem: 'pypi', name: 'demo-pkg', view: 'team-a', reason: 'short' }),
      400,
      'at least 10 characters',
    );
    expect4xx(
      await c.post('/ui/request', form, {
        ecosystem: 'pypi',
        name: 'demo-pkg',
        view: 'team-a',
        reason: 'long enough reason',
        expires: 'soon',
      }),
      400,
      'expires',
    );
    expect4xx(await c.get('/ui/packages/npm-ish/left-pad'), 400, 'ecosystem must be one of');
    expect4xx(await c.get('/ui/packages/pypi/%3Cscript%3Ealert(1)%3C%2Fscript%3E'), 400, 'Invalid name');
    expect4xx(await c.get('/ui/packages/pypi/demo-pkg?view=nowhere'), 404, 'view &quot;nowhere&quot; does not exist');
    expect4xx(await c.get('/ui/request?ecosystem=pypi&name=demo-pkg&versions=%3D%3Dnot%20a%20version'), 400, 'versions:');
    expect4xx(await c.post('/ui/requests/EXC-x/withdraw', form), 400, 'an exception id such as EXC-1001');
    const queue = await as.approver.get('/ui/queue');
    expect4xx(await as.approver.post('/ui/queue/decide', queue, { decision: 'approve' }), 400, 'tick at least one request');
  });
});
