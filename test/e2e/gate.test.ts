// The container gate end to end against a real docker-registry (Debian) configured to notify
// Safelist: images built with umoci and pushed with skopeo, Trivy reports posted by "the
// pipeline", verdicts read back through the API and the `safelist gate check` CLI. A clean
// image passes; a failing one is purged (skopeo can no longer fetch it), a local receiver
// gets the notification with the failing findings, and the audit trail shows each step.
// Unauthenticated or malformed webhooks change nothing; a repeated event id is processed once.
// A report that arrives after a pass judges the image again, and a failure then is enforced
// like any other. Every verdict document says one thing: pending with no verdict, or the
// decision with state === verdict.outcome.
// On PGlite and on a PostgreSQL server (the queue claims with FOR UPDATE SKIP LOCKED).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { DB_MODES } from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { cli } from '../support/cli.js';
import { trivyReport } from '../support/trivy.js';

const WEBHOOK_TOKEN = 'registry-webhook-token-0123456789';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const AUDITOR_TOKEN = 'auditor-token-0123456789abcdef';
const ACR_SECRET = 'acr-shared-secret-0123456789abcdef';
const DIST_TYPE = 'application/vnd.docker.distribution.events.v1+json';

interface Received {
  body: Record<string, unknown>;
}

async function startReceiver(): Promise<{ url: string; received: Received[]; stop(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      received.push({ body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/gate`,
    received,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.each(DB_MODES)('container gate against a real docker-registry (%s)', (db) => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;
  let hooks: Awaited<ReturnType<typeof startReceiver>>;
  const api = async (
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; type?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': opts.type ?? 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, any> };
  };
  const final = (digest: string) =>
    until(async () => {
      const r = await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN });
      return r.status === 200 && r.json.state !== 'pending' ? r.json : undefined;
    }, `a verdict for ${digest}`);
  const count = async (table: string) => Number((await sl.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

  beforeAll(async () => {
    hooks = await startReceiver();
    const port = await freePort();
    const safelistUrl = `http://127.0.0.1:${port}`;
    registry = await startRegistry({
      notify: [
        {
          name: 'safelist',
          url: `${safelistUrl}/api/v1/gate/webhooks/distribution`,
          headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` },
        },
      ],
    });
    sl = await startTestSafelist({
      db,
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'warn' },
        auth: {
          tokens: [
            { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
            { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] },
            { id: 'audit', token: AUDITOR_TOKEN, roles: ['auditor'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: registry.url }],
          acrWebhook: { header: 'X-Gate-Secret', secret: ACR_SECRET },
          pollBase: '200ms',
          reconcileSchedule: '',
          pollMax: '1s',
          scanDeadline: '10m',
          notify: [{ url: hooks.url, passes: true }],
        },
        notifications: { attempts: 3, retryBase: '100ms' },
      },
    });
    await writeFile(
      join(sl.dir, 'allowlists', 'containers.yaml'),
      [
        '# Reviewed container policy for the test registry',
        'severity: high',
        'fixableOnly: true',
        'exceptions:',
        '  - cve: CVE-2024-0002',
        '    owner: platform-team@example.com',
        '    justification: not reachable in our images, fix scheduled',
        '    expires: 2099-12-31',
        '',
      ].join('\n'),
    );
    // containers.yaml sits beside the package allowlists, and the package policy ignores it.
    await sl.runtime.policies.reload();
    layout = await createLayout();
    await layout.image('clean', { 'app/hello.txt': 'hello\n' });
    await layout.image('bad', { 'app/bad.txt': 'vulnerable\n' });
    await layout.image('other', { 'app/other.txt': 'other\n' });
    await layout.image('late', { 'app/late.txt': 'scanned again later\n' });
    await layout.image('unscanned', { 'app/unscanned.txt': 'no report yet\n' });
  });

  /** The document's one rule: pending has no verdict; a decision's state is its verdict's outcome. */
  const consistent = (doc: Record<string, any>) => {
    if (doc.state === 'pending') expect(doc.verdict).toBeNull();
    else expect(doc.verdict.outcome).toBe(doc.state);
    expect(Object.keys(doc).sort()).toEqual(['blocked', 'firstSeen', 'image', 'purged', 'reason', 'state', 'verdict']);
    return doc;
  };

  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await hooks?.stop();
    await layout?.remove();
  });

  it('passes a clean image: the push is notified, the report has nothing that fails, the pipeline gets exit 0', async () => {
    const digest = await layout.push('clean', registry.host, 'team/app:v1');
    const queued = await until(async () => {
      const r = await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN });
      return r.status === 200 ? r.json : undefined;
    }, 'the push to arrive');
    expect(queued.state).toBe('pending');
    expect(queued.reason ?? '').not.toMatch(/pass/);
    const posted = await api('POST', `/api/v1/gate/reports/${digest}`, {
      token: PIPELINE_TOKEN,
      body: trivyReport('team/app:v1', digest, [
        { id: 'CVE-2024-0001', severity: 'LOW', pkg: 'libfoo', fixed: '1.0.1' },
        { id: 'CVE-2024-0002', severity: 'CRITICAL', pkg: 'libbar', fixed: '2.0.0' },
        { id: 'CVE-2024-0003', severity: 'HIGH', pkg: 'libbaz' },
      ]),
    });
    expect(posted.status).toBe(201);
    const v = await final(digest);
    expect(v.state).toBe('pass');
    expect(v.verdict.exempted.map((e: any) => e.finding.id)).toEqual(['CVE-2024-0002']);
    expect(v.verdict.reported.map((e: any) => [e.finding.id, e.note])).toEqual([
      ['CVE-2024-0001', 'severity low is below the threshold high'],
      ['CVE-2024-0003', 'no fix available (fixableOnly)'],
    ]);
    const byTag = await api('GET', `/api/v1/gate/verdicts?image=${encodeURIComponent(`${registry.host}/team/app:v1`)}`, {
      token: PIPELINE_TOKEN,
    });
    expect(byTag.json.image.digest).toBe(digest);
    const run = await cli(['gate', 'check', `${registry.host}/team/app:v1`, '--wait', '30s'], {
      SAFELIST_URL: sl.url,
      SAFELIST_TOKEN: PIPELINE_TOKEN,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PASS team\/app@sha256:/);
    await sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/app@${digest}`]);
  });

  it('purges a failing image, notifies with the failing findings, audits every step, and the pipeline gets exit 1', async () => {
    const digest = await layout.push('bad', registry.host, 'team/app:v2');
    const posted = await api('POST', `/api/v1/gate/reports/${digest}`, {
      token: PIPELINE_TOKEN,
      body: trivyReport('team/app:v2', digest, [{ id: 'CVE-2024-9999', severity: 'HIGH', pkg: 'openssl', fixed: '3.0.15' }]),
    });
    expect(posted.status).toBe(201);
    const v = await final(digest);
    expect(v.state).toBe('fail');
    expect(v.verdict.failures).toEqual([
      expect.objectContaining({
        finding: expect.objectContaining({ id: 'CVE-2024-9999', severity: 'high', package: 'openssl' }),
        rule: 'severity high is at or above the threshold high',
      }),
    ]);
    const purged = await until(async () => {
      const r = await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN });
      return r.json.purged ? r.json.purged : undefined;
    }, 'the purge to be recorded');
    expect(purged).toBe('purged');
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/app@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
    const note = await until(
      () => hooks.received.find((r) => r.body.event === 'gate.failed' && (r.body.image as { digest: string }).digest === digest),
      'the failure notification',
    );
    expect(note.body.failures).toEqual([
      expect.objectContaining({ id: 'CVE-2024-9999', rule: 'severity high is at or above the threshold high' }),
    ]);
    expect(note.body.purge).toEqual({ outcome: 'purged', detail: 'deleted' });
    const audit = await api('GET', `/api/v1/audit?subject=${encodeURIComponent(`local/team/app@${digest}`)}`, { token: AUDITOR_TOKEN });
    expect(audit.json.records.map((r: { action: string }) => r.action)).toEqual(['gate.received', 'gate.verdict', 'gate.purged']);
    const reportAudit = await api('GET', `/api/v1/audit?subject=${digest}&action=gate.report-received`, { token: AUDITOR_TOKEN });
    expect(reportAudit.json.records).toHaveLength(1);
    const run = await cli(['gate', 'check', `team/app@${digest}`, '--wait', '5s'], {
      SAFELIST_URL: sl.url,
      SAFELIST_TOKEN: PIPELINE_TOKEN,
    });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('CVE-2024-9999 high in openssl 1.0.0 (fixed in 3.0.15)');
    expect((await api('GET', '/api/v1/audit/verify', { token: AUDITOR_TOKEN })).json.ok).toBe(true);
  });

  it('refuses unauthenticated and malformed webhooks with a 4xx and records nothing', async () => {
    const before = { events: await count('gate_events'), images: await count('gate_images'), audit: await count('audit_log') };
    const envelope = {
      events: [
        {
          id: randomUUID(),
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'a'.repeat(64)}`,
            repository: 'team/app',
            tag: 'x',
          },
          request: { host: registry.host },
        },
      ],
    };
    expect((await api('POST', '/api/v1/gate/webhooks/distribution', { body: envelope, type: DIST_TYPE })).status).toBe(401);
    expect(
      (await api('POST', '/api/v1/gate/webhooks/distribution', { token: PIPELINE_TOKEN, body: envelope, type: DIST_TYPE })).status,
    ).toBe(403);
    expect(
      (await api('POST', '/api/v1/gate/webhooks/distribution', { token: WEBHOOK_TOKEN, body: '{"events": [', type: DIST_TYPE })).status,
    ).toBe(400);
    expect(
      (
        await api('POST', '/api/v1/gate/webhooks/distribution', {
          token: WEBHOOK_TOKEN,
          body: { events: [{ ...envelope.events[0], target: { ...envelope.events[0]!.target, digest: 'sha256:nothex' } }] },
          type: DIST_TYPE,
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await api('POST', '/api/v1/gate/webhooks/distribution', {
          token: WEBHOOK_TOKEN,
          body: { events: [{ ...envelope.events[0], request: { host: 'evil.example:5000' } }] },
          type: DIST_TYPE,
        })
      ).status,
    ).toBe(400);
    expect(
      (await api('POST', '/api/v1/gate/webhooks/distribution', { token: WEBHOOK_TOKEN, body: { nope: true }, type: DIST_TYPE })).status,
    ).toBe(400);
    const acr = {
      id: randomUUID(),
      timestamp: '2026-11-25T10:00:00Z',
      action: 'push',
      target: {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        digest: `sha256:${'b'.repeat(64)}`,
        repository: 'team/app',
        tag: 'y',
        size: 1,
        length: 1,
      },
      request: { id: randomUUID(), host: registry.host, method: 'PUT', useragent: 'docker' },
    };
    expect((await api('POST', '/api/v1/gate/webhooks/acr', { body: acr })).status).toBe(401);
    expect((await api('POST', '/api/v1/gate/webhooks/acr', { body: acr, headers: { 'x-gate-secret': `${ACR_SECRET}x` } })).status).toBe(
      401,
    );
    expect(
      (
        await api('POST', '/api/v1/gate/webhooks/acr', {
          body: { ...acr, target: { ...acr.target, repository: 'Bad Name' } },
          headers: { 'x-gate-secret': ACR_SECRET },
        })
      ).status,
    ).toBe(400);
    expect(
      (await api('POST', `/api/v1/gate/reports/sha256:${'c'.repeat(64)}`, { body: trivyReport('x:1', `sha256:${'c'.repeat(64)}`, []) }))
        .status,
    ).toBe(401);
    expect(
      (
        await api('POST', `/api/v1/gate/reports/sha256:${'c'.repeat(64)}`, {
          token: PIPELINE_TOKEN,
          body: trivyReport('x:1', `sha256:${'d'.repeat(64)}`, []),
        })
      ).status,
    ).toBe(400);
    expect(
      (await api('POST', `/api/v1/gate/reports/sha256:${'c'.repeat(64)}`, { token: PIPELINE_TOKEN, body: { SchemaVersion: 1 } })).status,
    ).toBe(400);
    expect({ events: await count('gate_events'), images: await count('gate_images'), audit: await count('audit_log') }).toEqual(before);
    // A ping is answered, and records nothing either.
    const ping = await api('POST', '/api/v1/gate/webhooks/acr', {
      body: { id: randomUUID(), timestamp: '2026-11-25T10:00:00Z', action: 'ping' },
      headers: { 'x-gate-secret': ACR_SECRET },
    });
    expect(ping.status).toBe(200);
    expect(await count('gate_events')).toBe(before.events);
  });

  it('processes a repeated event id once (the distribution registry retries with the same id)', async () => {
    const digest = await layout.push('other', registry.host, 'team/other:v1');
    await until(
      async () => (await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN })).status === 200,
      'the registry notification',
    );
    const envelope = {
      events: [
        {
          id: randomUUID(),
          timestamp: new Date().toISOString(),
          action: 'push',
          target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'team/other', tag: 'again' },
          request: { host: registry.host, method: 'PUT' },
        },
        {
          id: randomUUID(),
          action: 'push',
          target: { mediaType: 'application/octet-stream', digest, repository: 'team/other' },
          request: { host: registry.host },
        },
        {
          id: randomUUID(),
          action: 'pull',
          target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'team/other' },
          request: { host: registry.host },
        },
      ],
    };
    const first = await api('POST', '/api/v1/gate/webhooks/distribution', { token: WEBHOOK_TOKEN, body: envelope, type: DIST_TYPE });
    const again = await api('POST', '/api/v1/gate/webhooks/distribution', { token: WEBHOOK_TOKEN, body: envelope, type: DIST_TYPE });
    expect(first).toEqual({ status: 202, json: { accepted: 1, duplicates: 0, ignored: 2 } });
    expect(again).toEqual({ status: 202, json: { accepted: 0, duplicates: 1, ignored: 2 } });
    const rows = await sl.runtime.db.query('SELECT event_id FROM gate_events WHERE event_id = $1', [envelope.events[0]!.id]);
    expect(rows).toHaveLength(1);
    const received = await api('GET', `/api/v1/audit?action=gate.received&subject=${encodeURIComponent(`local/team/other@${digest}`)}`, {
      token: AUDITOR_TOKEN,
    });
    expect(received.json.records).toHaveLength(2); // the registry's own notification, and ours once
  });

  it('queues an ACR push and judges it the same way, after re-reading the manifest', async () => {
    const digest = await layout.push('other', registry.host, 'acr/app:v1');
    const event = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 345, digest, length: 345, repository: 'acr/app', tag: 'v1' },
      request: { id: randomUUID(), host: registry.host, method: 'PUT', useragent: 'skopeo' },
    };
    const r = await api('POST', '/api/v1/gate/webhooks/acr', { body: event, headers: { 'x-gate-secret': ACR_SECRET } });
    expect(r.status).toBe(202);
    await api('POST', `/api/v1/gate/reports/${digest}`, { token: PIPELINE_TOKEN, body: trivyReport('acr/app:v1', digest, []) });
    const v = await until(async () => {
      const x = await api('GET', `/api/v1/gate/verdicts?image=${encodeURIComponent('acr/app:v1')}`, { token: PIPELINE_TOKEN });
      return x.status === 200 && x.json.state !== 'pending' ? x.json : undefined;
    }, 'the ACR verdict');
    expect(v.state).toBe('pass');
  });

  it('answers "no verdict" for a pushed digest the registry does not have; never a pass', async () => {
    const ghost = `sha256:${'e'.repeat(64)}`;
    const event = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: ghost, repository: 'acr/ghost', tag: 'v1' },
      request: { host: registry.host },
    };
    expect((await api('POST', '/api/v1/gate/webhooks/acr', { body: event, headers: { 'x-gate-secret': ACR_SECRET } })).status).toBe(202);
    await api('POST', `/api/v1/gate/reports/${ghost}`, { token: PIPELINE_TOKEN, body: trivyReport('acr/ghost:v1', ghost, []) });
    const v = await final(ghost);
    expect(v.state).toBe('no-verdict');
    expect(v.reason).toMatch(/does not have acr\/ghost@sha256:e{64}/);
    const run = await cli(['gate', 'check', 'acr/ghost:v1', '--wait', '1s'], { SAFELIST_URL: sl.url, SAFELIST_TOKEN: PIPELINE_TOKEN });
    expect(run.code).toBe(2);
    const unseen = await cli(['gate', 'check', 'team/never:v9', '--wait', '300ms', '--interval', '100ms'], {
      SAFELIST_URL: sl.url,
      SAFELIST_TOKEN: PIPELINE_TOKEN,
    });
    expect(unseen.code).toBe(2);
    expect(unseen.stdout).toMatch(/^NO VERDICT team\/never:v9 within 300ms: the gate has not received a push/);
  });
  it('judges a passed image again when a later report fails it: blocked from deploys, purged, notified and audited', async () => {
    const digest = await layout.push('late', registry.host, 'team/late:v1');
    const subject = `local/team/late@${digest}`;
    expect(
      (await api('POST', `/api/v1/gate/reports/${digest}`, { token: PIPELINE_TOKEN, body: trivyReport('team/late:v1', digest, []) }))
        .status,
    ).toBe(201);
    const passed = consistent(await final(digest));
    expect(passed.state).toBe('pass');
    // A rescan with a newer vulnerability database finds a critical, fixable CVE.
    const late = await api('POST', `/api/v1/gate/reports/${digest}`, {
      token: PIPELINE_TOKEN,
      body: trivyReport('team/late:v1', digest, [{ id: 'CVE-2026-1234', severity: 'CRITICAL', pkg: 'zlib', fixed: '1.3.2' }]),
    });
    expect(late.status).toBe(201);
    const again = consistent((await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN })).json);
    expect(again.state).toBe('pending'); // never "pass" on old information while it is judged again
    expect(again.reason).toMatch(/new scan report arrived after the verdict pass/);
    expect(late.json.judgedAgain).toEqual([{ registry: 'local', repository: 'team/late', digest }]);
    const v = consistent(await final(digest));
    expect(v.state).toBe('fail');
    expect(v.verdict.failures.map((f: any) => f.finding.id)).toEqual(['CVE-2026-1234']);
    await until(
      async () => (await api('GET', `/api/v1/gate/verdicts/${digest}`, { token: PIPELINE_TOKEN })).json.purged === 'purged',
      'the purge',
    );
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/late@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
    const note = await until(
      () => hooks.received.find((r) => r.body.event === 'gate.failed' && (r.body.image as { digest: string }).digest === digest),
      'the failure notification',
    );
    expect(note.body.purge).toEqual({ outcome: 'purged', detail: 'deleted' });
    const audit = await api('GET', `/api/v1/audit?subject=${encodeURIComponent(subject)}`, { token: AUDITOR_TOKEN });
    expect(audit.json.records.map((r: { action: string }) => r.action)).toEqual([
      'gate.received',
      'gate.verdict',
      'gate.requeued',
      'gate.verdict',
      'gate.purged',
    ]);
    expect(audit.json.records[2].detail).toMatchObject({ cause: 'report', previous: 'pass', reportId: late.json.id });
    expect(audit.json.records[3].detail).toMatchObject({ outcome: 'fail' });
    // The verdict is anchored at once (not at the next 10-minute anchor), so it cannot be dropped unnoticed.
    const verdictSeq = audit.json.records[3].seq as number;
    await until(async () => (await sl.runtime.audit.anchors()).some((a) => a.seq >= verdictSeq), 'the verdict to be anchored');
    const run = await cli(['gate', 'check', `team/late@${digest}`, '--wait', '5s'], {
      SAFELIST_URL: sl.url,
      SAFELIST_TOKEN: PIPELINE_TOKEN,
    });
    expect(run.code, run.stderr).toBe(1);
  });

  it('keeps a failed image failed when another report arrives (its enforcement already ran)', async () => {
    const failed = (
      await sl.runtime.db.query<{ digest: string }>("SELECT digest FROM gate_images WHERE state = 'fail' AND repository = 'team/app'")
    )[0]!.digest;
    const r = await api('POST', `/api/v1/gate/reports/${failed}`, { token: PIPELINE_TOKEN, body: trivyReport('team/app:v2', failed, []) });
    expect(r.status).toBe(201);
    expect(r.json.judgedAgain).toEqual([]);
    expect(consistent((await api('GET', `/api/v1/gate/verdicts/${failed}`, { token: PIPELINE_TOKEN })).json).state).toBe('fail');
  });

  it('answers one consistent verdict document for pending, pass, fail and no-verdict images, and the database refuses a row that is not', async () => {
    // Without a report an image waits (scanDeadline 10m): its document is pending, with no verdict.
    const unscanned = await layout.push('unscanned', registry.host, 'team/unscanned:v1');
    await until(
      async () => (await sl.runtime.db.query("SELECT 1 FROM gate_images WHERE digest = $1 AND state = 'waiting'", [unscanned])).length > 0,
      'the unscanned image to wait',
    );
    const rows = await sl.runtime.db.query<{ digest: string; state: string }>('SELECT digest, state FROM gate_images');
    expect([...new Set(rows.map((r) => r.state))]).toEqual(expect.arrayContaining(['waiting', 'pass', 'fail', 'no-verdict']));
    for (const r of rows) consistent((await api('GET', `/api/v1/gate/verdicts/${r.digest}`, { token: PIPELINE_TOKEN })).json);
    const pending = consistent((await api('GET', `/api/v1/gate/verdicts/${unscanned}`, { token: PIPELINE_TOKEN })).json);
    expect(pending).toMatchObject({ state: 'pending', verdict: null, purged: null, blocked: null });
    const failed = rows.find((r) => r.state === 'fail')!.digest;
    await expect(sl.runtime.db.query("UPDATE gate_images SET state = 'waiting' WHERE digest = $1", [failed])).rejects.toThrow(
      /gate_images_verdict_matches_state/,
    );
    await expect(sl.runtime.db.query("UPDATE gate_images SET state = 'pass' WHERE digest = $1", [failed])).rejects.toThrow(
      /gate_images_verdict_matches_state/,
    );
  });
});
