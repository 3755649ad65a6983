// The exception workflow through the HTTP API with real identities: Entra-shaped JWTs signed by
// a local key (JWKS served locally) and a static token. An authorisation matrix over every
// route and role (plus no token and bad tokens); the request → triage → approve → real pip →
// expire path; separation of duties; bad input; a request with the dependencies it needs (a
// bundle, as the console makes); and a second replica on the same PostgreSQL.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { createPgDatabase } from '../support/databases.js';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const STATIC_TOKEN = 'static-requester-token-0123456789';

function authConfig(entra: EntraStub) {
  return {
    auth: {
      entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri },
      tokens: [{ id: 'svc-bot', name: 'request bot', token: STATIC_TOKEN, roles: ['requester'] }],
    },
    exceptions: { defaultDuration: '30d', maxDuration: '90d', warnBefore: '7d', expirySchedule: '' },
  };
}

describe('exceptions API', () => {
  let entra: EntraStub;
  let sl: TestSafelist;
  let work: string;
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    entra = await startEntraStub();
    work = await mkdtemp(join(tmpdir(), 'safelist-exc-'));
    const dist = join(work, 'dist');
    for (const v of ['1.0', '2.0']) {
      await buildWheel(dist, {
        name: 'demo-pkg',
        version: v,
        requiresDist: ['helper-lib>=1', 'pytest; extra == "test"'],
        modules: { demo_pkg: `V = "${v}"\n` },
      });
    }
    sl = await startTestSafelist({
      views: { 'team-a': {}, 'team-b': {} },
      allowlist: 'packages:\n  - "demo-pkg<2"\n  - requests\n',
      extra: authConfig(entra),
    });
    await importPypiDir(dist, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    const t = (oid: string, roles: string[]) => entra.token({ oid, name: oid, roles });
    tok.requester = await t('oid-alice', ['Safelist.Requester']);
    tok.approverA = await t('oid-bob', ['Safelist.Approver.team-a']);
    tok.approverB = await t('oid-carol', ['Safelist.Approver.team-b']);
    tok.admin = await t('oid-ada', ['Safelist.Admin']);
    tok.auditor = await t('oid-audrey', ['Safelist.Auditor']);
    tok.pipeline = await t('oid-pipe', ['Safelist.Pipeline']);
    tok.webhook = await t('oid-hook', ['Safelist.Webhook']);
    tok.static = STATIC_TOKEN;
    tok.otherTenant = await entra.token({
      oid: 'oid-x',
      roles: ['Safelist.Admin'],
      tid: '00000000-0000-0000-0000-000000000000',
      iss: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
    });
    tok.expired = await entra.token({ oid: 'oid-ada', roles: ['Safelist.Admin'], exp: Math.floor(Date.now() / 1000) - 3600 });
    tok.wrongAudience = await entra.token({ oid: 'oid-ada', roles: ['Safelist.Admin'], aud: 'api://something-else' });
    tok.v1Issuer = await entra.token({ oid: 'oid-ada', roles: ['Safelist.Admin'], iss: `https://sts.windows.net/${entra.tenantId}/` });
    tok.foreignKey = await entra.token({ oid: 'oid-ada', roles: ['Safelist.Admin'] }, { foreignKey: true });
  });

  afterAll(async () => {
    await sl?.stop();
    await entra?.stop();
  });

  const call = async (method: string, path: string, who?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (who) headers.authorization = `Bearer ${tok[who] ?? who}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json, type: res.headers.get('content-type') };
  };
  const request = async (who = 'static', body: Record<string, unknown> = {}) => {
    // ==1.0 is allowed anyway: approving these in other tests changes nothing pip sees.
    const r = await call('POST', '/api/v1/exceptions', who, {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==1.0',
      view: 'team-a',
      reason: 'reproduce the paper results',
      ...body,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json.id as string;
  };

  const BAD = { none: 401, otherTenant: 401, expired: 401, wrongAudience: 401, v1Issuer: 401, foreignKey: 401 } as const;
  const who = (k: string) => (k === 'none' ? undefined : k);

  it('enforces the authorisation matrix on every route', async () => {
    const matrix: Array<{ route: string; run: (w: string | undefined) => Promise<number>; expect: Record<string, number> }> = [
      {
        route: 'POST /api/v1/exceptions',
        run: async (w) =>
          (
            await call('POST', '/api/v1/exceptions', w, {
              ecosystem: 'pypi',
              name: 'demo-pkg',
              versions: '==1.0',
              view: 'team-a',
              reason: 'matrix test request',
            })
          ).status,
        expect: {
          requester: 201,
          static: 201,
          admin: 201,
          approverA: 403,
          approverB: 403,
          auditor: 403,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
      {
        route: 'GET /api/v1/exceptions',
        run: async (w) => (await call('GET', '/api/v1/exceptions', w)).status,
        expect: {
          requester: 200,
          static: 200,
          admin: 200,
          approverA: 200,
          approverB: 200,
          auditor: 200,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
      {
        route: 'GET /api/v1/exceptions/:id',
        run: async (w) => (await call('GET', `/api/v1/exceptions/${await request()}`, w)).status,
        expect: {
          requester: 200,
          static: 200,
          admin: 200,
          approverA: 200,
          approverB: 200,
          auditor: 200,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
      ...(['approve', 'reject'] as const).map((verb) => ({
        route: `POST /api/v1/exceptions/:id/${verb}`,
        run: async (w: string | undefined) => (await call('POST', `/api/v1/exceptions/${await request()}/${verb}`, w, {})).status,
        expect: {
          requester: 403,
          static: 403,
          admin: 200,
          approverA: 200,
          approverB: 403,
          auditor: 403,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      })),
      {
        route: 'POST /api/v1/exceptions/:id/revoke',
        run: async (w) => (await call('POST', `/api/v1/exceptions/${await request()}/revoke`, w, {})).status,
        // the static requester withdraws its own request; another requester may not
        expect: {
          requester: 403,
          static: 200,
          admin: 200,
          approverA: 200,
          approverB: 403,
          auditor: 403,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
      ...['/api/v1/audit', '/api/v1/audit/export', '/api/v1/audit/verify'].map((path) => ({
        route: `GET ${path}`,
        run: async (w: string | undefined) => (await call('GET', path, w)).status,
        expect: {
          requester: 403,
          static: 403,
          admin: 200,
          approverA: 403,
          approverB: 403,
          auditor: 200,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      })),
      {
        route: 'GET /api/v1/demand',
        run: async (w) => (await call('GET', '/api/v1/demand', w)).status,
        expect: {
          requester: 403,
          static: 403,
          admin: 200,
          approverA: 200,
          approverB: 200,
          auditor: 200,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
      {
        route: 'POST /api/v1/policy/reload',
        run: async (w) => (await call('POST', '/api/v1/policy/reload', w)).status,
        expect: {
          requester: 403,
          static: 403,
          admin: 200,
          approverA: 403,
          approverB: 403,
          auditor: 403,
          pipeline: 403,
          webhook: 403,
          ...BAD,
        },
      },
    ];
    const got: Record<string, Record<string, number>> = {};
    const want: Record<string, Record<string, number>> = {};
    for (const m of matrix) {
      got[m.route] = {};
      want[m.route] = m.expect;
      for (const identity of Object.keys(m.expect)) got[m.route]![identity] = await m.run(who(identity));
    }
    expect(got).toEqual(want);
  });

  it('explains authentication failures and tells the client how to authenticate', async () => {
    const none = await call('GET', '/api/v1/exceptions');
    expect(none.type).toBe('application/problem+json');
    expect(none.json.detail).toMatch(/bearer token/);
    expect((await call('GET', '/api/v1/exceptions', 'expired')).json.detail).toMatch(/expired/);
    expect((await call('GET', '/api/v1/exceptions', 'wrongAudience')).json.detail).toMatch(/aud/);
    expect((await call('GET', '/api/v1/exceptions', 'pipeline')).json.detail).toMatch(/needs one of the roles/);
  });

  it('takes a request through triage, approval by another identity, real pip in that view only, and expiry', async () => {
    const index = (view: string) => `${sl.url}/pypi/${view}/simple/`;
    const target = () => mkdtemp(join(work, 'target-'));
    expect(
      (await pipInstall({ indexUrl: index('team-a'), requirements: ['demo-pkg==2.0'], target: await target(), extraArgs: ['--no-deps'] }))
        .code,
    ).not.toBe(0);

    const created = await call('POST', '/api/v1/exceptions', 'requester', {
      ecosystem: 'pypi',
      name: 'Demo_Pkg',
      versions: '==2.0',
      view: 'team-a',
      reason: 'needs the 2.0 API for the paper',
    });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(created.json).toMatchObject({ state: 'requested', name: 'demo-pkg', requestedBy: 'oid-alice' });
    expect(created.json.triage.upstream).toMatchObject({ known: true, matching: ['2.0'] });
    expect(created.json.triage.dependencies.notAllowed).toEqual([{ requirement: 'helper-lib>=1', name: 'helper-lib' }]);

    expect((await call('POST', `/api/v1/exceptions/${id}/approve`, 'requester', {})).status).toBe(403); // role
    const again = id;
    expect((await call('POST', `/api/v1/exceptions/${again}/approve`, 'approverB', {})).status).toBe(403);
    const approved = await call('POST', `/api/v1/exceptions/${again}/approve`, 'approverA', { note: 'ok for the paper' });
    expect(approved.status).toBe(200);
    expect(approved.json).toMatchObject({ state: 'active', decidedBy: 'oid-bob' });

    // In force at once: pip in team-a installs 2.0, the default view still cannot.
    const inTeam = await target();
    // --no-deps: helper-lib is not allowed yet, exactly as the triage report said.
    const r = await pipInstall({ indexUrl: index('team-a'), requirements: ['demo-pkg==2.0'], target: inTeam, extraArgs: ['--no-deps'] });
    expect(r.code, r.output).toBe(0);
    expect(sl.served.some((s) => s.view === 'team-a' && s.filename.startsWith('demo_pkg-2.0'))).toBe(true);
    const other = await pipInstall({
      indexUrl: index('default'),
      requirements: ['demo-pkg==2.0'],
      target: await target(),
      extraArgs: ['--no-deps'],
    });
    expect(other.code).not.toBe(0);
    expect(other.output).toMatch(/Blocked by Safelist policy/);

    // Expiry (the scheduled job, run as if its day had come) removes it again.
    const expired = await sl.runtime.exceptions.expireDue(new Date(Date.now() + 31 * 86_400_000));
    expect(expired.map((e) => e.id)).toContain(again);
    await sl.runtime.policies.reload();
    expect(
      (await pipInstall({ indexUrl: index('team-a'), requirements: ['demo-pkg==2.0'], target: await target(), extraArgs: ['--no-deps'] }))
        .code,
    ).not.toBe(0);
    expect((await call('GET', `/api/v1/exceptions/${again}`, 'auditor')).json.state).toBe('expired');

    // Every step is on the audit trail with the acting oid, and the chain verifies.
    const trail = (await call('GET', `/api/v1/audit?subject=${again}`, 'auditor')).json.records as Array<{ action: string; actor: string }>;
    expect(trail.map((t) => [t.action, t.actor])).toEqual([
      ['exception.requested', 'oid-alice'],
      ['exception.approved', 'oid-bob'],
      ['exception.expired', 'system'],
    ]);
    expect((await call('GET', '/api/v1/audit/verify', 'auditor')).json.ok).toBe(true);
    const lines = (await call('GET', `/api/v1/audit/export?subject=${again}`, 'admin')).json as string;
    expect(String(lines).trim().split('\n')).toHaveLength(3);
  });

  it('never lets requesters approve themselves, and keeps global exceptions for admins', async () => {
    // An admin who requested cannot approve their own request either.
    const own = await request('admin', { view: 'team-b' });
    const selfApprove = await call('POST', `/api/v1/exceptions/${own}/approve`, 'admin', {});
    expect(selfApprove.status).toBe(403);
    expect(selfApprove.json.detail).toMatch(/approver must not be the requester/);
    const global = await request('requester', { view: '*' });
    const byApprover = await call('POST', `/api/v1/exceptions/${global}/approve`, 'approverA', {});
    expect(byApprover.status).toBe(403);
    expect(byApprover.json.detail).toMatch(/global exception can only be decided by an admin/);
    expect((await call('POST', `/api/v1/exceptions/${global}/approve`, 'admin', {})).status).toBe(200);
    expect((await call('POST', `/api/v1/exceptions/${global}/approve`, 'admin', {})).status).toBe(409);
  });

  it('answers bad input with 4xx that says what to fix', async () => {
    const bad = async (body: unknown) => call('POST', '/api/v1/exceptions', 'requester', body);
    const cases: Array<[unknown, number, RegExp]> = [
      [{ ecosystem: 'pypi', name: 'x', view: 'team-a' }, 400, /reason/],
      [{ ecosystem: 'cargo', name: 'x', view: 'team-a', reason: 'long enough reason' }, 400, /ecosystem/],
      [{ ecosystem: 'pypi', name: 'bad name!', view: 'team-a', reason: 'long enough reason' }, 400, /name/],
      [{ ecosystem: 'pypi', name: 'x', versions: '>>1', view: 'team-a', reason: 'long enough reason' }, 400, /versions/],
      [{ ecosystem: 'pypi', name: 'x', view: 'nope', reason: 'long enough reason' }, 404, /view "nope" does not exist/],
      [{ ecosystem: 'pypi', name: 'x', view: 'team-a', reason: 'long enough reason', expires: '2099-01-01' }, 400, /at most 90d/],
      [{ ecosystem: 'pypi', name: 'x', view: 'team-a', reason: 'long enough reason', extra: 1 }, 400, /extra/],
      ['{not json', 400, /JSON/i],
    ];
    for (const [body, status, msg] of cases) {
      const r = await bad(body);
      expect({ body, status: r.status }).toEqual({ body, status });
      expect(r.type).toBe('application/problem+json');
      expect(r.json.detail).toMatch(msg);
    }
    expect((await call('GET', '/api/v1/exceptions/../../etc', 'auditor')).status).toBeGreaterThanOrEqual(400);
    expect((await call('GET', '/api/v1/exceptions/EXC-x', 'auditor')).status).toBe(400);
    expect((await call('GET', '/api/v1/exceptions/EXC-999999', 'auditor')).status).toBe(404);
    expect((await call('GET', '/api/v1/exceptions?state=maybe', 'auditor')).status).toBe(400);
  });

  it('requests a package with the dependencies it needs in one request (a bundle): validated as a whole, each part decided by someone else', async () => {
    const asked = {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==2.0',
      view: 'team-b',
      reason: 'reproduce the paper results',
      expires: new Date(Date.now() + 20 * 86_400_000).toISOString().slice(0, 10),
    };
    const r = await call('POST', '/api/v1/exceptions', 'admin', { ...asked, dependencies: [{ name: 'Helper_Lib', versions: '>=1' }] });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const main = r.json;
    expect(main).toMatchObject({
      name: 'demo-pkg',
      versions: '==2.0',
      view: 'team-b',
      state: 'requested',
      bundle: null,
      requestedBy: 'oid-ada',
    });
    expect(main.dependencies).toHaveLength(1);
    const [dep] = main.dependencies;
    expect(dep).toMatchObject({
      name: 'helper-lib',
      versions: '>=1',
      view: 'team-b',
      state: 'requested',
      bundle: main.id,
      requestedBy: 'oid-ada',
      expiresAt: main.expiresAt,
      reason: 'needed by demo-pkg: reproduce the paper results',
    });
    expect(dep.triage).toHaveProperty('upstream');
    const listed = await call('GET', `/api/v1/exceptions?bundle=${main.id}`, 'auditor');
    expect(listed.json.exceptions.map((e: { id: string }) => e.id)).toEqual([dep.id]);
    const [audited] = await sl.runtime.audit.query({ action: 'exception.requested', subject: dep.id });
    expect(audited).toMatchObject({ actor: 'oid-ada', detail: { bundle: main.id, name: 'helper-lib' } });

    // Separation of duties on every part: the requester (an admin here) decides none of them; another approver decides each on its own.
    const own = await call('POST', `/api/v1/exceptions/${dep.id}/approve`, 'admin', {});
    expect(own.status).toBe(403);
    expect(own.json.detail).toMatch(/approver must not be the requester/);
    expect((await call('POST', `/api/v1/exceptions/${dep.id}/approve`, 'approverA', {})).status).toBe(403); // not team-b's
    expect((await call('POST', `/api/v1/exceptions/${dep.id}/approve`, 'approverB', {})).status).toBe(200);
    expect((await call('GET', `/api/v1/exceptions/${main.id}`, 'auditor')).json.state).toBe('requested');
    // Without the requester role, no bundle either.
    expect((await call('POST', '/api/v1/exceptions', 'approverB', { ...asked, dependencies: [{ name: 'helper-lib' }] })).status).toBe(403);

    // One bad part refuses the whole request, and records nothing of it.
    const solo = { ...asked, name: 'bundle-main-pkg' };
    const cases: Array<[unknown[], RegExp]> = [
      [[{ name: 'helper-lib', versions: '>>1' }], /versions/],
      [[{ name: 'bad name!' }], /name/],
      [[{ name: 'helper-lib', reason: 'short' }], /at least 10 characters/],
      [[{ name: 'helper-lib', view: 'team-a' }], /view/],
      [[{ name: 'Bundle_Main_Pkg' }], /bundle-main-pkg is asked for twice/],
      [Array.from({ length: 51 }, (_, i) => ({ name: `dep-${i}` })), /at most 50 dependencies/],
    ];
    for (const [dependencies, msg] of cases) {
      const bad = await call('POST', '/api/v1/exceptions', 'requester', { ...solo, dependencies });
      expect(bad.status, JSON.stringify(bad.json)).toBe(400);
      expect(bad.json.detail).toMatch(msg);
    }
    expect((await call('GET', '/api/v1/exceptions?name=bundle-main-pkg', 'auditor')).json.exceptions).toEqual([]);
  });

  it('publishes an OpenAPI document for the API', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json')).json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/exceptions/{id}/approve');
    expect(doc.paths['/api/v1/exceptions'].post.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['ecosystem', 'name', 'view', 'reason']),
    );
  });
});

describe('approval seen by a second replica on the same PostgreSQL', () => {
  it('applies an approval made on one replica on the other through NOTIFY', async () => {
    const entra = await startEntraStub();
    const pg = await createPgDatabase();
    const opts = { views: { 'team-a': {} }, allowlist: 'packages:\n  - "demo-pkg<2"\n', databaseUrl: pg.url, extra: authConfig(entra) };
    const a = await startTestSafelist(opts);
    const b = await startTestSafelist(opts);
    try {
      const bearer = async (oid: string, role: string) => ({
        authorization: `Bearer ${await entra.token({ oid, roles: [role] })}`,
        'content-type': 'application/json',
      });
      const created = (await (
        await fetch(`${a.url}/api/v1/exceptions`, {
          method: 'POST',
          headers: await bearer('oid-alice', 'Safelist.Requester'),
          body: JSON.stringify({ ecosystem: 'pypi', name: 'demo-pkg', versions: '==2.0', view: 'team-a', reason: 'replica test request' }),
        })
      ).json()) as { id: string };
      const check = async () =>
        (
          (await (await fetch(`${b.url}/api/v1/policy/check?ecosystem=pypi&name=demo-pkg&version=2.0&view=team-a`)).json()) as {
            allowed: boolean;
          }
        ).allowed;
      expect(await check()).toBe(false);
      const t0 = performance.now();
      const res = await fetch(`${a.url}/api/v1/exceptions/${created.id}/approve`, {
        method: 'POST',
        headers: await bearer('oid-bob', 'Safelist.Approver.team-a'),
        body: '{}',
      });
      expect(res.status).toBe(200);
      let seen = false;
      while (!seen && performance.now() - t0 < 10_000) {
        seen = await check();
        if (!seen) await new Promise((r) => setTimeout(r, 10));
      }
      expect(seen).toBe(true);
      console.log(`replica B allowed the approved version ${(performance.now() - t0).toFixed(0)} ms after the approval request was sent`);
    } finally {
      await a.stop();
      await b.stop();
      await pg.drop();
      await entra.stop();
    }
  });
});
