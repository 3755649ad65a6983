// Package reads scoped to views, over real HTTP on every ecosystem's read path (PyPI, conda,
// npm, OCI), with static tokens and Entra tokens signed by the local JWKS stub: a token reads the
// views it is granted (read:, Safelist.Reader.<view>, admins everything) and gets a 403 in its
// client's dialect elsewhere (problem+json, npm's {"error"}, OCI's DENIED) naming the view and
// what to ask for; an unknown or bad token stays 401; /v2/ answers any valid token. The check
// runs before any route: a view that does not exist is a 403 too (nothing about it leaks). The
// policy queries (/api/v1/policy/why, /check) and a view's workspace config follow the same rule;
// with anonymous package reads they stay open to anyone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TEAM_A = 'read-grants-team-a-0123456789';
const ADMIN = 'read-grants-admin-0123456789';
const OLD = 'read-grants-no-read-0123456789';

/** One URL per read path of each view, and how each dialect carries the message. */
const PATHS: Array<{ ecosystem: string; url: (view: string) => string; message: (body: unknown) => string }> = [
  { ecosystem: 'pypi', url: (v) => `/pypi/${v}/simple/`, message: (b) => (b as { detail: string }).detail },
  {
    ecosystem: 'conda',
    url: (v) => `/conda/${v}/conda-forge/noarch/repodata.json`,
    message: (b) => (b as { detail: string }).detail,
  },
  { ecosystem: 'npm', url: (v) => `/npm/${v}/-/ping`, message: (b) => (b as { error: string }).error },
  {
    ecosystem: 'oci',
    url: (v) => (v === 'default' ? '/v2/mcr/azureml/app/tags/list' : `/v2/views/${v}/mcr/azureml/app/tags/list`),
    message: (b) => {
      const e = (b as { errors: Array<{ code: string; message: string }> }).errors[0]!;
      expect(e.code).toBe('DENIED');
      return e.message;
    },
  },
];

describe('package reads scoped to views', () => {
  let entra: EntraStub;
  let sl: TestSafelist;
  beforeAll(async () => {
    entra = await startEntraStub();
    sl = await startTestSafelist({
      views: { 'team-a': {}, 'team-b': {} },
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
      ociAllowlist: 'packages:\n  - mcr/azureml/app:^1.0.0\n',
      extra: {
        auth: {
          packageRead: 'token',
          entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri },
          tokens: [
            { id: 'ws-team-a', token: TEAM_A, read: ['team-a'] },
            { id: 'boss', token: ADMIN, roles: ['admin'] },
            { id: 'old-bot', token: OLD, roles: ['pipeline'] },
          ],
        },
        exceptions: { expirySchedule: '' },
      },
    });
  });
  afterAll(async () => {
    await sl?.stop();
    await entra?.stop();
  });

  const get = (path: string, token: string) => fetch(`${sl.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  /** The status of a read path and, for a refusal, the message as its client shows it. */
  const read = async (p: (typeof PATHS)[number], view: string, token: string) => {
    const res = await get(p.url(view), token);
    return { ecosystem: p.ecosystem, view, status: res.status, message: res.status === 403 ? p.message(await res.json()) : '' };
  };

  it('lets a static token read its views only, on every read path, with a 403 in each dialect elsewhere', async () => {
    for (const p of PATHS) {
      const own = await read(p, 'team-a', TEAM_A);
      expect(own.status, p.ecosystem).not.toBe(401);
      expect(own.status, p.ecosystem).not.toBe(403);
      for (const view of ['default', 'team-b', 'no-such-view']) {
        const r = await read(p, view, TEAM_A);
        expect(r).toMatchObject({ ecosystem: p.ecosystem, view, status: 403 });
        expect(r.message).toBe(
          `ws-team-a may not read the packages of view "${view}" (it reads: team-a); ask a Safelist administrator to add ${view} to read: of token ws-team-a in auth.tokens`,
        );
      }
    }
  });

  it('lets an admin read every view, and closes every view to a token without a grant once grants are in use', async () => {
    for (const p of PATHS)
      for (const view of ['default', 'team-a', 'team-b']) {
        expect((await read(p, view, ADMIN)).status, `${p.ecosystem} ${view}`).not.toBe(403);
        // auth.tokens states read grants, so old-bot's lack of one means none (fail closed).
        const old = await read(p, view, OLD);
        expect(old.status, `${p.ecosystem} ${view}`).toBe(403);
        expect(old.message).toMatch(/old-bot may not read .* \(it reads: no view\)/);
      }
  });

  it('reads the views of Entra Safelist.Reader.<view> roles, and says which app role to ask for', async () => {
    const reader = await entra.token({ oid: 'oid-ws-b', name: 'Workspace B', roles: ['Safelist.Reader.team-b'] });
    const everything = await entra.token({ oid: 'oid-all', roles: ['Safelist.Reader'] });
    const requester = await entra.token({ oid: 'oid-req', name: 'Rita', roles: ['Safelist.Requester'] });
    for (const p of PATHS) {
      expect((await read(p, 'team-b', reader)).status, p.ecosystem).not.toBe(403);
      const other = await read(p, 'team-a', reader);
      expect(other.status, p.ecosystem).toBe(403);
      expect(other.message).toBe(
        'Workspace B may not read the packages of view "team-a" (it reads: team-b); ask a Safelist administrator for the Entra app role Safelist.Reader.team-a',
      );
      expect((await read(p, 'default', everything)).status, p.ecosystem).not.toBe(403);
      expect((await read(p, 'team-a', requester)).message).toMatch(/^Rita may not read .*\(it reads: no view\)/);
    }
    // A remembered Entra token is the same grant on the next request.
    expect((await read(PATHS[0]!, 'team-b', reader)).status).toBe(200);
    expect((await read(PATHS[0]!, 'team-a', reader)).status).toBe(403);
  });

  it("answers the policy queries and a view's workspace config only to a token granted the view, as its read path", async () => {
    const reader = await entra.token({ oid: 'oid-ws-b', name: 'Workspace B', roles: ['Safelist.Reader.team-b'] });
    const queries = (view: string) => [
      `/api/v1/policy/why?ecosystem=pypi&name=requests&view=${view}`,
      `/api/v1/policy/check?ecosystem=pypi&name=requests&version=2.0.0&view=${view}`,
      `/api/v1/workspaces/${view}/config`,
    ];
    for (const url of queries('team-a')) {
      const anonymous = await fetch(`${sl.url}${url}`);
      expect(anonymous.status, url).toBe(401);
      expect(anonymous.headers.get('www-authenticate'), url).toBe('Bearer realm="safelist"');
      expect(((await anonymous.json()) as { detail: string }).detail).toBe(
        'package access needs a token: send the token you read packages with (Authorization: Bearer <token>)',
      );
      expect((await get(url, 'not-a-token-0123456789')).status, url).toBe(401);
      expect((await get(url, TEAM_A)).status, url).toBe(200);
      expect((await get(url, ADMIN)).status, url).toBe(200);
      // The same problem as the read path's 403: code, view, and what to ask for.
      const other = await get(url, reader);
      expect(other.status, url).toBe(403);
      expect(other.headers.get('content-type')).toBe('application/problem+json');
      expect(await other.json()).toMatchObject({
        status: 403,
        code: 'READ_NOT_GRANTED',
        view: 'team-a',
        detail:
          'Workspace B may not read the packages of view "team-a" (it reads: team-b); ask a Safelist administrator for the Entra app role Safelist.Reader.team-a',
      });
    }
    // A view that does not exist is refused like one not granted: its 404 would list the views.
    for (const url of queries('no-such-view')) {
      expect((await get(url, TEAM_A)).status, url).toBe(403);
      expect((await get(url, ADMIN)).status, url).toBe(404);
    }
    // No view asked: the default view's rules, so the default view's grant.
    expect((await get('/api/v1/policy/why?name=requests', TEAM_A)).status).toBe(403);
    expect((await get('/api/v1/policy/why?name=requests', OLD)).status).toBe(403);
    expect((await get('/api/v1/policy/why?name=requests&view=team-b', reader)).status).toBe(200);
  });

  it('keeps 401 for a missing, unknown or badly signed token, and answers /v2/ to any valid one', async () => {
    const forged = await entra.token({ oid: 'oid-x', roles: ['Safelist.Reader'] }, { foreignKey: true });
    for (const p of PATHS) {
      expect((await fetch(`${sl.url}${p.url('team-a')}`)).status, p.ecosystem).toBe(401);
      expect((await get(p.url('team-a'), 'not-a-token-0123456789')).status, p.ecosystem).toBe(401);
      expect((await get(p.url('team-a'), forged)).status, p.ecosystem).toBe(401);
    }
    for (const token of [TEAM_A, OLD, await entra.token({ oid: 'oid-req', roles: ['Safelist.Requester'] })])
      expect((await get('/v2/', token)).status).toBe(200);
    expect((await get('/v2/', 'not-a-token-0123456789')).status).toBe(401);
  });
});

describe('policy queries with anonymous package reads', () => {
  let sl: TestSafelist;
  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      extra: { auth: { tokens: [{ id: 'ws-team-a', token: TEAM_A, read: ['team-a'] }] } },
    });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it("stay open to anyone (pip's hint links, safelist why against the API), whatever the view", async () => {
    for (const url of [
      '/api/v1/policy/why?ecosystem=pypi&name=requests&view=default',
      '/api/v1/policy/check?ecosystem=pypi&name=requests&version=2.0.0&view=team-a',
      '/api/v1/workspaces/default/config',
    ])
      expect((await fetch(`${sl.url}${url}`)).status, url).toBe(200);
    expect((await fetch(`${sl.url}/api/v1/policy/why?name=requests&view=nope`)).status).toBe(404);
  });
});
