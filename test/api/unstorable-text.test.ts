// Text a database cannot hold — a NUL, a lone UTF-16 surrogate — in any JSON string or query
// parameter of the management API gets a 400 that names the field, on PGlite and PostgreSQL
// alike, and never reaches the database: every query the server sends while these requests
// run is watched, and none may carry such a string. Covers the exception workflow (request,
// approve, reject, list filters), the audit filters (query and export), a Trivy report and the
// gate's webhooks (distribution envelope, ACR, Event Grid).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../src/state/db.js';
import { firstBadText } from '../../src/http/text-input.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKENS = {
  requester: 'text-requester-token-0123456789',
  approver: 'text-approver-token-0123456789',
  admin: 'text-admin-token-0123456789ab',
  pipeline: 'text-pipeline-token-0123456789',
  webhook: 'text-webhook-token-0123456789a',
};
const ACR_SECRET = 'text-acr-shared-secret-0123456789';
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const NUL = '\u0000';
const LONE = '\ud800';

/** Records every statement whose parameters hold a string no database can store. */
function watchDb(db: Db): { offending: string[] } {
  const offending: string[] = [];
  const check = (sql: string, params?: unknown[]) => {
    if (params && firstBadText(params)) offending.push(sql);
  };
  const wrap = <T extends Queryable>(q: T): T => {
    const query = q.query.bind(q);
    q.query = (async (sql: string, params?: unknown[]) => {
      check(sql, params);
      return query(sql, params);
    }) as T['query'];
    return q;
  };
  wrap(db);
  const tx = db.tx.bind(db);
  db.tx = ((fn: (q: Queryable) => Promise<unknown>) => tx((q) => fn(wrap(q)))) as Db['tx'];
  return { offending };
}

describe.each(DB_MODES)('text a database cannot store (%s)', (db) => {
  let sl: TestSafelist;
  let watched: { offending: string[] };
  let excId: string;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: {
        auth: {
          tokens: [
            { id: 'alice', token: TOKENS.requester, roles: ['requester'] },
            { id: 'bob', token: TOKENS.approver, roles: ['approver'], views: ['team-a'] },
            { id: 'ada', token: TOKENS.admin, roles: ['admin', 'auditor'] },
            { id: 'pipe', token: TOKENS.pipeline, roles: ['pipeline'] },
            { id: 'hook', token: TOKENS.webhook, roles: ['webhook'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: 'http://registry.test:5000' }],
          acrWebhook: { secret: ACR_SECRET },
          reconcileSchedule: '',
        },
        exceptions: { expirySchedule: '' },
      },
    });
    const created = await call('POST', '/api/v1/exceptions', 'requester', {
      ecosystem: 'pypi',
      name: 'numpy',
      view: 'team-a',
      reason: 'needed for the demand forecast',
    });
    expect(created.status).toBe(201);
    excId = created.json.id;
    watched = watchDb(sl.runtime.db);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  async function call(
    method: string,
    path: string,
    who: keyof typeof TOKENS | undefined,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const h: Record<string, string> = { ...headers };
    if (who) h.authorization = `Bearer ${TOKENS[who]}`;
    if (body !== undefined) h['content-type'] ??= 'application/json';
    // JSON.stringify writes a lone surrogate as the escape \ud800, which is what clients send.
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers: h,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }

  /** The answer is the 400 that names the field (in its source), and no query carried the text. */
  function expectRefused(r: { status: number; json: any }, source: string, field: string) {
    expect(r.status, JSON.stringify(r.json)).toBe(400);
    expect(r.json.code).toBe('INVALID_TEXT');
    expect(r.json.source).toBe(source);
    expect(r.json.field).toBe(field);
    expect(r.json.detail).toContain(field);
    expect(watched.offending).toEqual([]);
  }

  it('an exception request with a NUL or a lone surrogate in its reason or name', async () => {
    const base = { ecosystem: 'pypi', name: 'pandas', view: 'team-a', reason: 'needed for the demand forecast' };
    expectRefused(
      await call('POST', '/api/v1/exceptions', 'requester', { ...base, reason: `needed for ${NUL} the forecast` }),
      'body',
      'reason',
    );
    expectRefused(
      await call('POST', '/api/v1/exceptions', 'requester', { ...base, reason: `needed for ${LONE} the forecast` }),
      'body',
      'reason',
    );
    expectRefused(await call('POST', '/api/v1/exceptions', 'requester', { ...base, name: `pan${NUL}das` }), 'body', 'name');
    expect((await call('GET', '/api/v1/exceptions?name=pandas', 'admin')).json.exceptions).toEqual([]);
  });

  it('approve and reject with a bad note leave the request as it was', async () => {
    expectRefused(await call('POST', `/api/v1/exceptions/${excId}/approve`, 'approver', { note: `ok ${NUL}` }), 'body', 'note');
    expectRefused(await call('POST', `/api/v1/exceptions/${excId}/reject`, 'approver', { note: `no ${LONE}` }), 'body', 'note');
    expectRefused(await call('POST', `/api/v1/exceptions/${excId}/revoke`, 'requester', { note: `\udc00 withdrawn` }), 'body', 'note');
    const now = await call('GET', `/api/v1/exceptions/${excId}`, 'admin');
    expect(now.json.state).toBe('requested');
  });

  it('list and audit filters with a NUL', async () => {
    expectRefused(await call('GET', '/api/v1/exceptions?name=a%00b', 'admin'), 'query', 'name');
    expectRefused(await call('GET', '/api/v1/exceptions?requestedBy=%00', 'admin'), 'query', 'requestedBy');
    expectRefused(await call('GET', '/api/v1/exceptions?view=team-a&state=requested&name=x%00', 'admin'), 'query', 'name');
    expectRefused(await call('GET', '/api/v1/audit?actor=ali%00ce', 'admin'), 'query', 'actor');
    expectRefused(await call('GET', '/api/v1/audit?action=exception.requested&subject=%00', 'admin'), 'query', 'subject');
    expectRefused(await call('GET', '/api/v1/audit/export?action=%00', 'admin'), 'query', 'action');
    expectRefused(await call('GET', '/api/v1/gate/verdicts?image=app%00:1', 'admin'), 'query', 'image');
    // The same filters without the NUL still answer.
    expect((await call('GET', '/api/v1/audit?actor=alice', 'admin')).status).toBe(200);
  });

  it('a Trivy report with a NUL or a lone surrogate in a finding', async () => {
    const report = (vuln: Record<string, string>) => ({
      SchemaVersion: 2,
      ArtifactName: `registry.test:5000/app@${DIGEST}`,
      Results: [
        {
          Target: 'app (debian 12)',
          Vulnerabilities: [{ VulnerabilityID: 'CVE-2024-0001', PkgName: 'openssl', InstalledVersion: '3.0.0', Severity: 'HIGH', ...vuln }],
        },
      ],
    });
    expectRefused(
      await call('POST', `/api/v1/gate/reports/${DIGEST}`, 'pipeline', report({ PkgName: `open${NUL}ssl` })),
      'body',
      'Results[0].Vulnerabilities[0].PkgName',
    );
    expectRefused(
      await call('POST', `/api/v1/gate/reports/${DIGEST}`, 'pipeline', report({ Title: `a ${LONE} title` })),
      'body',
      'Results[0].Vulnerabilities[0].Title',
    );
    // A key can be bad too (Trivy reports are loose objects, and stored findings are JSON).
    const r = await call('POST', `/api/v1/gate/reports/${DIGEST}`, 'pipeline', { ...report({}), [`x${NUL}`]: 1 });
    expect(r.status).toBe(400);
    expect(r.json.detail).toContain('(the key)');
    expect(watched.offending).toEqual([]);
  });

  it('gate webhooks with a bad event id', async () => {
    const push = (id: string) => ({
      id,
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, repository: 'app', tag: '1' },
      request: { host: 'registry.test:5000' },
    });
    expectRefused(
      await call(
        'POST',
        '/api/v1/gate/webhooks/distribution',
        'webhook',
        { events: [push(`evt${NUL}1`)] },
        { 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      ),
      'body',
      'events[0].id',
    );
    expectRefused(
      await call('POST', '/api/v1/gate/webhooks/acr', undefined, push(`evt-${LONE}`), { 'x-safelist-webhook-secret': ACR_SECRET }),
      'body',
      'id',
    );
    expectRefused(
      await call(
        'POST',
        '/api/v1/gate/webhooks/eventgrid',
        undefined,
        [{ id: `eg${NUL}`, eventType: 'Microsoft.ContainerRegistry.ImagePushed', data: push('evt-2') }],
        { 'x-safelist-webhook-secret': ACR_SECRET },
      ),
      'body',
      '[0].id',
    );
    // Nothing was recorded: the same push with a good id is new.
    const ok = await call(
      'POST',
      '/api/v1/gate/webhooks/distribution',
      'webhook',
      { events: [push('evt-1')] },
      { 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
    );
    expect(ok.status).toBe(202);
    expect(ok.json.accepted).toBe(1);
  });

  it('authentication still comes first: no token, 401 whatever the body holds', async () => {
    const r = await call('POST', `/api/v1/exceptions/${excId}/approve`, undefined, { note: `ok ${NUL}` });
    expect(r.status).toBe(401);
  });
});
