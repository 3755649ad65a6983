// A request nobody decided before its expiry lapses: the expiry job marks it expired (audited,
// like an active exception that ends), and approving it afterwards is a 409 that says it expired.
// Through the HTTP API with static tokens, on PGlite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const REQUESTER = 'requester-token-0123456789abcdef';
const APPROVER = 'approver-token-0123456789abcdef';

describe.each(DB_MODES)('an undecided exception request past its expiry (%s)', (db) => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: {
        auth: {
          tokens: [
            { id: 'oid-alice', token: REQUESTER, roles: ['requester'] },
            { id: 'oid-bob', token: APPROVER, roles: ['approver'], views: ['team-a'] },
          ],
        },
        exceptions: { defaultDuration: '30d', maxDuration: '90d', warnBefore: '7d', expirySchedule: '' },
      },
    });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it('becomes expired by the expiry job and can no longer be approved', async () => {
    const created = await call('POST', '/api/v1/exceptions', REQUESTER, {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==1.0',
      view: 'team-a',
      reason: 'reproduce the paper',
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    const other = await call('POST', '/api/v1/exceptions', REQUESTER, {
      ecosystem: 'pypi',
      name: 'other-pkg',
      view: 'team-a',
      reason: 'needed next quarter',
      expires: new Date(Date.now() + 60 * 86_400_000).toISOString(),
    });
    expect(other.status, JSON.stringify(other.json)).toBe(201);

    // The expiry job, run as if the request's last day (30d default) had passed.
    const expired = await sl.runtime.exceptions.expireDue(new Date(Date.now() + 31 * 86_400_000));
    expect(expired.map((e) => e.id)).toEqual([id]);
    expect((await call('GET', `/api/v1/exceptions/${id}`, APPROVER)).json.state).toBe('expired');
    expect((await call('GET', `/api/v1/exceptions/${other.json.id as string}`, APPROVER)).json.state).toBe('requested');

    const approve = await call('POST', `/api/v1/exceptions/${id}/approve`, APPROVER, { note: 'late' });
    expect(approve.status).toBe(409);
    expect(approve.json.detail).toMatch(new RegExp(`${id} expired on .* before anyone decided it; it can no longer be approved`));

    const trail = (await sl.runtime.audit.query({ subject: id })).map((r) => [r.action, r.actor, r.detail.from ?? null]);
    expect(trail).toEqual([
      ['exception.requested', 'oid-alice', null],
      ['exception.expired', 'system', 'requested'],
    ]);
  });
});
