// Notifications link into the console: with server.publicUrl set, the exception webhooks'
// Safelist JSON carries `review` and the Teams Adaptive Card an "Review in Safelist" action, both
// the request's console page (/ui/requests/{id}) under the public URL; without a public URL
// neither invents one; the link opens the request's page on this server. Real server, real
// webhook receivers, requests through the real API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient } from '../support/console-client.js';
import { startHookReceiver, type HookReceiver } from '../support/hook.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const PUBLIC = 'https://safelist.example.test/';
const tokens = [
  { id: 'oid-alice', name: 'Alice', token: 'alice-token-0123456789', roles: ['requester'] },
  { id: 'oid-bob', name: 'Bob', token: 'bob-token-0123456789', roles: ['approver'] },
];

async function start(json: HookReceiver, teams: HookReceiver, publicUrl?: string): Promise<TestSafelist> {
  return startTestSafelist({
    views: { 'team-a': {} },
    allowlist: 'packages:\n  - requests\n',
    extra: {
      ...(publicUrl ? { server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl } } : {}),
      auth: { tokens },
      notifications: {
        webhooks: [
          { url: json.url, format: 'json' },
          { url: teams.url, format: 'teams' },
        ],
        attempts: 2,
        retryBase: '50ms',
      },
    },
  });
}

async function request(sl: TestSafelist, name: string): Promise<string> {
  const res = await fetch(`${sl.url}/api/v1/exceptions`, {
    method: 'POST',
    headers: { authorization: 'Bearer alice-token-0123456789', 'content-type': 'application/json' },
    body: JSON.stringify({ ecosystem: 'pypi', name, versions: '==1.0', view: 'team-a', reason: 'needed for the evaluation notebook' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('notifications link to the request in the console', () => {
  let json: HookReceiver;
  let teams: HookReceiver;
  let sl: TestSafelist;

  beforeAll(async () => {
    [json, teams] = await Promise.all([startHookReceiver(), startHookReceiver()]);
    sl = await start(json, teams, PUBLIC);
  });
  afterAll(async () => {
    await sl?.stop();
    await json?.stop();
    await teams?.stop();
  });

  it('carries the console page of the request, built from server.publicUrl, in the JSON payload and the Teams card', async () => {
    const id = await request(sl, 'torchmetrics');
    const review = `https://safelist.example.test/ui/requests/${id}`;
    const body = await until(() => json.received.find((b) => b.exception?.id === id), 'the JSON notification');
    expect(body).toMatchObject({ event: 'exception.requested', review, url: `https://safelist.example.test/api/v1/exceptions/${id}` });
    const card = await until(() => teams.received.find((b) => JSON.stringify(b).includes(id)), 'the Teams card');
    const content = card.attachments[0].content;
    expect(content.actions).toEqual([{ type: 'Action.OpenUrl', title: 'Review in Safelist', url: review }]);

    // The link is a console page of this server: signed out it leads to sign-in and back, signed in it shows the request.
    const path = new URL(review).pathname;
    const approver = new ConsoleClient(sl.url);
    const out = await approver.request('GET', path);
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`/ui/sign-in?next=${encodeURIComponent(path)}`);
    expect((await approver.signInWithToken('bob-token-0123456789')).status).toBe(200);
    const page = await approver.get(path);
    expect(page.status).toBe(200);
    expect(page.body).toContain(id);
    expect(page.body).toContain('torchmetrics');
  });
});

describe('notifications without a public URL', () => {
  it('carry no link (a request Host header never names the server)', async () => {
    const [json, teams] = await Promise.all([startHookReceiver(), startHookReceiver()]);
    const sl = await start(json, teams);
    try {
      const id = await request(sl, 'polars');
      const body = await until(() => json.received.find((b) => b.exception?.id === id), 'the JSON notification');
      expect(body.review).toBeUndefined();
      expect(body.url).toBeUndefined();
      const card = await until(() => teams.received.find((b) => JSON.stringify(b).includes(id)), 'the Teams card');
      expect(card.attachments[0].content.actions).toBeUndefined();
    } finally {
      await sl.stop();
      await json.stop();
      await teams.stop();
    }
  });
});
