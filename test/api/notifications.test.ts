// Notifications and follow-up work of the exception workflow: webhooks (Safelist JSON signed
// with HMAC, and an Adaptive Card for Teams) delivered with retries while the API answers at
// once; expiry warnings sent once; and an approval that schedules the sync of the approved
// project from a real upstream (nginx serving PEP 503 pages), after which real pip installs it in that view.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { pipInstall } from '../support/pip.js';
import { startNginxUpstream, type NginxUpstream } from '../support/nginx-upstream.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { until } from '../support/wait.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook receiver that fails the first `failFirst` deliveries on each path with 503. */
async function startReceiver(failFirst: number): Promise<{ url: string; received: Received[]; stop(): Promise<void> }> {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      if (req.url === '/hang') return; // never answers
      const n = (seen.get(req.url!) ?? 0) + 1;
      seen.set(req.url!, n);
      if (n <= failFirst) return void res.writeHead(503).end();
      received.push({ path: req.url!, headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('exception notifications and follow-up sync', () => {
  let entra: EntraStub;
  let hooks: Awaited<ReturnType<typeof startReceiver>>;
  let upstream: NginxUpstream;
  let sl: TestSafelist;
  let work: string;
  const SECRET = 'webhook-secret-0123456789';

  beforeAll(async () => {
    entra = await startEntraStub();
    hooks = await startReceiver(2);
    work = await mkdtemp(join(tmpdir(), 'safelist-notify-'));
    await buildWheel(join(work, 'upstream'), { name: 'fresh-pkg', version: '1.0' });
    upstream = await startNginxUpstream({ packagesDir: join(work, 'upstream') });
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      upstreams: [{ name: 'local', url: upstream.url }],
      extra: {
        auth: { entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri } },
        exceptions: { defaultDuration: '30d', maxDuration: '90d', warnBefore: '7d', expirySchedule: '' },
        notifications: {
          webhooks: [
            { url: `${hooks.url}/json`, format: 'json', secret: SECRET },
            { url: `${hooks.url}/teams`, format: 'teams', events: ['exception.approved'] },
            { url: `${hooks.url}/hang` },
          ],
          attempts: 4,
          retryBase: '50ms',
        },
      },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
    await hooks?.stop();
    await entra?.stop();
  });

  const api = async (path: string, oid: string, role: string, body: unknown) => {
    const res = await fetch(`${sl.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await entra.token({ oid, name: oid, roles: [role] })}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };

  it('notifies with retries and signatures, and an approval syncs the project so pip can install it', async () => {
    const created = await api('/api/v1/exceptions', 'oid-alice', 'Safelist.Requester', {
      ecosystem: 'pypi',
      name: 'fresh-pkg',
      versions: '==1.0',
      view: 'team-a',
      reason: 'new library for the project',
    });
    expect(created.status).toBe(201);
    expect(created.json.triage.upstream.known).toBe(false);

    // Delivered on the third attempt (two 503s), signed over the exact body.
    const requested = await until(
      () => hooks.received.find((r) => r.path === '/json' && JSON.parse(r.body).event === 'exception.requested'),
      'the requested event',
    );
    expect(requested.headers['x-safelist-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(requested.body).digest('hex')}`);
    expect(JSON.parse(requested.body).exception).toMatchObject({
      id: created.json.id,
      name: 'fresh-pkg',
      view: 'team-a',
      requestedBy: 'oid-alice',
    });

    const approved = await api(`/api/v1/exceptions/${created.json.id}/approve`, 'oid-bob', 'Safelist.Approver.team-a', { note: 'fine' });
    expect(approved.status).toBe(200);
    const card = await until(() => hooks.received.find((r) => r.path === '/teams'), 'the Teams card');
    const content = JSON.parse(card.body).attachments[0].content;
    expect(content.type).toBe('AdaptiveCard');
    expect(content.body[0].text).toBe(`Exception approved: ${created.json.id}`);
    expect(hooks.received.filter((r) => r.path === '/teams')).toHaveLength(1); // only the events it asked for

    // The approval scheduled the sync of fresh-pkg from the upstream; pip in team-a gets it.
    await until(
      () =>
        openedPypi(sl.runtime)
          .catalog.project('fresh-pkg')
          ?.files.some((f) => f.stored),
      'the sync after approval',
    );
    const r = await pipInstall({
      indexUrl: `${sl.url}/pypi/team-a/simple/`,
      requirements: ['fresh-pkg==1.0'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(r.code, r.output).toBe(0);
  });

  it('warns once before an exception expires and announces the expiry', async () => {
    const created = await api('/api/v1/exceptions', 'oid-alice', 'Safelist.Requester', {
      ecosystem: 'pypi',
      name: 'requests',
      versions: '==0.1',
      view: 'team-a',
      reason: 'short lived exception',
      expires: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    });
    await api(`/api/v1/exceptions/${created.json.id}/approve`, 'oid-bob', 'Safelist.Approver.team-a', {});
    const week = 7 * 86_400_000;
    expect((await sl.runtime.exceptions.warnExpiring(week)).map((e) => e.id)).toEqual([created.json.id]);
    expect(await sl.runtime.exceptions.warnExpiring(week)).toEqual([]); // once
    await until(
      () => hooks.received.find((r) => r.path === '/json' && JSON.parse(r.body).event === 'exception.expiring'),
      'the expiring event',
    );
    await sl.runtime.exceptions.expireDue(new Date(Date.now() + 4 * 86_400_000));
    await until(
      () =>
        hooks.received.find(
          (r) =>
            r.path === '/json' && JSON.parse(r.body).event === 'exception.expired' && JSON.parse(r.body).exception.id === created.json.id,
        ),
      'the expired event',
    );
  });
});
