// Exceptions scoped like package reads (auth.packageRead: token), over real HTTP with static
// tokens: a requester sees the exceptions of the views it reads and its own requests always, an
// approver those of the views it approves or reads, auditors and admins every one; a global ('*')
// exception only who reads or approves every view. One it may not see is a 404 like an id that
// does not exist (the API's list, show and decisions, the console's request page), and requesting
// for a view it may not read is a 403 saying what it reads. The console's view pickers (request
// form, onboarding, approvals) offer only the views the identity may read (or, on approvals,
// approves), and demand counts only those views. With anonymous package reads every exception role
// keeps seeing every exception.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/auth/identity.js';
import { ConsoleClient } from '../support/console-client.js';
import { DB_MODES, type DbMode } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKENS = {
  rita: 'exc-scope-rita-requester-0123456789',
  rolf: 'exc-scope-rolf-requester-0123456789',
  bob: 'exc-scope-bob-approver-0123456789',
  carl: 'exc-scope-carl-approver-0123456789',
  audrey: 'exc-scope-audrey-auditor-0123456789',
  ada: 'exc-scope-ada-admin-0123456789',
};
const TOKEN_CONFIG = [
  { id: 'rita', name: 'Rita', token: TOKENS.rita, roles: ['requester'], read: ['team-a'] },
  { id: 'rolf', name: 'Rolf', token: TOKENS.rolf, roles: ['requester'], read: ['team-b'] },
  // Approves team-a and reads no view's packages: it still sees what it decides.
  { id: 'bob', name: 'Bob', token: TOKENS.bob, roles: ['approver'], views: ['team-a'], read: [] },
  { id: 'carl', name: 'Carl', token: TOKENS.carl, roles: ['approver'], views: ['team-b'], read: ['team-b'] },
  { id: 'audrey', name: 'Audrey', token: TOKENS.audrey, roles: ['auditor'], read: [] },
  { id: 'ada', name: 'Ada', token: TOKENS.ada, roles: ['admin'] },
];

type Who = keyof typeof TOKENS;

/** The views a page's pickers offer. */
const offered = (body: string) =>
  [...body.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]).filter((v) => v!.startsWith('team-') || v === '*');

async function startWith(packageRead: 'token' | 'anonymous', db: DbMode = 'pglite'): Promise<TestSafelist> {
  return startTestSafelist({
    db,
    views: { 'team-a': {}, 'team-b': {}, 'team-c': {} },
    allowlist: 'packages:\n  - requests\n',
    extra: { auth: { packageRead, tokens: TOKEN_CONFIG }, exceptions: { expirySchedule: '' } },
  });
}

function client(sl: TestSafelist) {
  const call = async (method: string, path: string, who: Who, body?: unknown) => {
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const request = async (who: Who, view: string, name: string) =>
    call('POST', '/api/v1/exceptions', who, { ecosystem: 'pypi', name, versions: '', view, reason: 'needed for the scope test' });
  const created = async (who: Who, view: string, name: string) => {
    const r = await request(who, view, name);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json.id as string;
  };
  const listed = async (who: Who, query = '') => {
    const r = await call('GET', `/api/v1/exceptions${query}`, who);
    expect(r.status).toBe(200);
    return (r.json.exceptions as Array<{ id: string }>).map((e) => e.id).sort();
  };
  return { call, request, created, listed };
}

// The scoped list is SQL with an array parameter: both databases run it.
describe.each(DB_MODES)('exceptions when package reads need a token, on %s', (mode) => {
  let sl: TestSafelist;
  let api: ReturnType<typeof client>;
  const id: Record<string, string> = {};

  beforeAll(async () => {
    sl = await startWith('token', mode);
    api = client(sl);
    id.ritaA = await api.created('rita', 'team-a', 'pkg-rita-a');
    id.rolfB = await api.created('rolf', 'team-b', 'pkg-rolf-b');
    id.adaA = await api.created('ada', 'team-a', 'pkg-ada-a');
    id.adaC = await api.created('ada', 'team-c', 'pkg-ada-c');
    id.global = await api.created('ada', '*', 'pkg-global');
    // Asked while Rita still read team-c (her grant taken away since): her own request stays hers to see.
    const ritaBefore: Identity = {
      oid: 'rita',
      name: 'Rita',
      roles: new Set(['requester']),
      approverViews: new Set(),
      readViews: new Set(['team-a', 'team-c']),
      via: 'static',
    };
    id.ritaC = (
      await sl.runtime.exceptions.create(ritaBefore, {
        ecosystem: 'pypi',
        name: 'pkg-rita-c',
        versions: '',
        view: 'team-c',
        reason: 'asked before the grant went',
      })
    ).id;
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('lists to each identity the exceptions of the views it reads or approves, its own always, and every one to auditors and admins', async () => {
    expect(await api.listed('rita')).toEqual([id.ritaA, id.adaA, id.ritaC].sort());
    expect(await api.listed('rolf')).toEqual([id.rolfB]);
    expect(await api.listed('bob')).toEqual([id.ritaA, id.adaA].sort());
    expect(await api.listed('carl')).toEqual([id.rolfB]);
    const every = Object.values(id).sort();
    expect(await api.listed('audrey')).toEqual(every);
    expect(await api.listed('ada')).toEqual(every);
    // A filter narrows the scope, never widens it.
    expect(await api.listed('rita', '?view=team-b')).toEqual([]);
    expect(await api.listed('rita', '?view=team-c')).toEqual([id.ritaC]);
    expect(await api.listed('rita', '?requestedBy=rolf')).toEqual([]);
  });

  it('answers one it may not see with the 404 of an id that does not exist', async () => {
    const missing = await api.call('GET', '/api/v1/exceptions/EXC-999999', 'rita');
    expect(missing.status).toBe(404);
    for (const hidden of [id.rolfB, id.adaC, id.global]) {
      const r = await api.call('GET', `/api/v1/exceptions/${hidden}`, 'rita');
      expect(r.status, hidden).toBe(404);
      expect(r.json.detail).toBe(`no exception ${hidden}`);
      expect(JSON.stringify(r.json)).not.toContain('team-');
    }
    expect((await api.call('GET', `/api/v1/exceptions/${id.ritaC}`, 'rita')).status).toBe(200);
    expect((await api.call('GET', `/api/v1/exceptions/${id.ritaA}`, 'bob')).json.triage).toBeDefined();
    expect((await api.call('GET', `/api/v1/exceptions/${id.global}`, 'audrey')).status).toBe(200);
  });

  it('decides only what it may see: another view’s request is a 404, not a 403 naming its view', async () => {
    const other = await api.created('rolf', 'team-b', 'pkg-rolf-b2');
    for (const verb of ['approve', 'reject', 'revoke']) {
      const r = await api.call('POST', `/api/v1/exceptions/${other}/${verb}`, 'bob', {});
      expect(r.status, verb).toBe(404);
      expect(r.json.detail).toBe(`no exception ${other}`);
    }
    expect((await api.call('POST', `/api/v1/exceptions/${other}/approve`, 'carl', {})).status).toBe(200);
  });

  it('refuses a request for a view the requester may not read with a 403 saying what it reads, an unknown view alike', async () => {
    for (const view of ['team-b', 'no-such-view']) {
      const r = await api.request('rita', view, 'pkg-x');
      expect(r.status, view).toBe(403);
      expect(r.json.code).toBe('READ_NOT_GRANTED');
      expect(r.json.detail).toContain(`Rita may not read the packages of view "${view}" (it reads: team-a)`);
      expect(r.json.detail).not.toContain('team-c');
    }
    const global = await api.request('rita', '*', 'pkg-x');
    expect(global.status).toBe(403);
    expect(global.json.detail).toContain('a global exception ("*") needs read of every view (it reads: team-a)');
    // An admin reads every view: an unknown one is the usual 404 listing them.
    expect((await api.request('ada', 'no-such-view', 'pkg-x')).status).toBe(404);
  });

  it('shows in the console only the requests the identity may see', async () => {
    const rita = new ConsoleClient(sl.url);
    expect((await rita.signInWithToken(TOKENS.rita)).status).toBe(200);
    expect((await rita.get(`/ui/requests/${id.ritaA}`)).status).toBe(200);
    expect((await rita.get(`/ui/requests/${id.ritaC}`)).status).toBe(200);
    for (const hidden of [id.rolfB, id.global]) {
      const page = await rita.get(`/ui/requests/${hidden}`);
      expect(page.status, hidden).toBe(404);
      expect(page.body).not.toContain('pkg-rolf-b');
    }
  });

  it('shows demand counts (refused reads) only of the views whose exceptions the identity sees, in the API and the console', async () => {
    for (const view of ['team-a', 'team-b', 'team-c'])
      await sl.runtime.db.query("INSERT INTO blocked_demand (ecosystem, name, view, count, last_at) VALUES ('pypi', $1, $2, 3, now())", [
        `wanted-${view}`,
        view,
      ]);
    const views = async (who: Who) => {
      const r = await api.call('GET', '/api/v1/demand', who);
      expect(r.status).toBe(200);
      return [...new Set((r.json.mostWanted as Array<{ view: string }>).map((w) => w.view))].sort();
    };
    expect(await views('bob')).toEqual(['team-a']);
    expect(await views('carl')).toEqual(['team-b']);
    expect(await views('audrey')).toEqual(['team-a', 'team-b', 'team-c']);
    const bob = new ConsoleClient(sl.url);
    await bob.signInWithToken(TOKENS.bob);
    const page = await bob.get('/ui/demand');
    expect(page.status).toBe(200);
    expect(page.body).toContain('wanted-team-a');
    expect(page.body).not.toContain('wanted-team-b');
    expect(offered(page.body)).toEqual(['team-a']);
  });

  it('offers in the console’s view pickers only the views the identity may read (approvals: read or approve)', async () => {
    const rita = new ConsoleClient(sl.url);
    expect((await rita.signInWithToken(TOKENS.rita)).status).toBe(200);
    const form = await rita.get('/ui/request');
    expect(form.status).toBe(200);
    expect(offered(form.body)).toEqual(['team-a']);
    const preview = await rita.get('/ui/request?ecosystem=pypi&name=requests&view=team-b');
    expect(preview.status).toBe(403);
    expect(preview.body).toContain('Rita may not read the packages of view &quot;team-b&quot;');
    expect(preview.body).not.toContain('What this request asks for');

    const onboarding = await rita.get('/ui/onboarding');
    expect(onboarding.status).toBe(200);
    expect(offered(onboarding.body)).toEqual(['team-a']);
    expect(onboarding.body).toContain('View team-a');
    expect((await rita.get('/ui/onboarding?view=team-b')).status).toBe(403);

    const bob = new ConsoleClient(sl.url);
    // Signed in (it lands on a search page telling it that it reads no view).
    await bob.signInWithToken(TOKENS.bob);
    const queue = await bob.get('/ui/queue?scope=all');
    expect(queue.status).toBe(200);
    expect(offered(queue.body)).toEqual(['team-a']);
    expect(queue.body).toContain(id.ritaA);
    expect(queue.body).not.toContain('pkg-rolf-b');
    expect(queue.body).not.toContain('pkg-ada-c');
    expect(queue.body).not.toContain('pkg-global');

    const ada = new ConsoleClient(sl.url);
    expect((await ada.signInWithToken(TOKENS.ada)).status).toBe(200);
    const all = await ada.get('/ui/request');
    expect(offered(all.body)).toEqual(['team-a', 'team-b', 'team-c', '*']);
  });
});

describe('exceptions with anonymous package reads', () => {
  let sl: TestSafelist;
  afterAll(async () => {
    await sl?.stop();
  });

  it('keeps showing every exception and view to every exception role', async () => {
    sl = await startWith('anonymous');
    const api = client(sl);
    const a = await api.created('rita', 'team-a', 'pkg-a');
    const b = await api.created('rolf', 'team-b', 'pkg-b');
    const g = await api.created('rita', '*', 'pkg-g');
    for (const who of ['rita', 'rolf', 'bob', 'audrey'] as const) expect(await api.listed(who), who).toEqual([a, b, g].sort());
    expect((await api.call('GET', `/api/v1/exceptions/${b}`, 'rita')).status).toBe(200);
    const rita = new ConsoleClient(sl.url);
    expect((await rita.signInWithToken(TOKENS.rita)).status).toBe(200);
    expect((await rita.get('/ui/onboarding?view=team-b')).status).toBe(200);
    expect((await rita.get(`/ui/requests/${b}`)).status).toBe(200);
  });
});
