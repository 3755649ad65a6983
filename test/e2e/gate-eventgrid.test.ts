// ACR events delivered by Azure Event Grid, over real HTTP to a running Safelist judging images
// in a real docker-registry: the Event Grid schema (a JSON array) and CloudEvents 1.0 (one
// event or a batch), with the subscription validation handshake (200 {validationResponse}) and
// the CloudEvents abuse-protection OPTIONS (WebHook-Allowed-Origin), as documented on learn
// (event-grid/end-point-validation-event-grid-events-schema, …-cloud-events-schema). Deliveries
// carry the ACR webhook's shared secret as a static header; a redelivery, or the same push
// through the native webhook, is recorded once; deletes, charts and non-manifest pushes are
// acknowledged and ignored; a malformed or unauthenticated delivery gets a 4xx and records nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const SECRET = 'eventgrid-shared-secret-0123456789';
const HEADER = 'X-Gate-Secret';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('gate: ACR pushes delivered by Event Grid', () => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;
  const hook = async (
    body: unknown,
    opts: { type?: string; secret?: string | null; method?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${sl.url}/api/v1/gate/webhooks/eventgrid`, {
      method: opts.method ?? 'POST',
      headers: {
        ...(opts.secret === null ? {} : { [HEADER]: opts.secret ?? SECRET }),
        ...(body === undefined ? {} : { 'content-type': opts.type ?? 'application/json' }),
        ...opts.headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : {}) as Record<string, any> };
  };
  const count = async (table: string) => Number((await sl.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  /** The ACR event payload (`data`), as the native webhook sends it. */
  const acrData = (digest: string, repository: string, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: 'push',
    target: { mediaType: OCI_MANIFEST, size: 525, digest, length: 525, repository, tag: 'v1' },
    request: { id: randomUUID(), host: registry.host, method: 'PUT', useragent: 'skopeo/1.9.3' },
    ...extra,
  });
  const topic = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/gatetest';
  const gridEvent = (eventType: string, data: unknown) => ({
    id: randomUUID(),
    topic,
    subject: 'team/app:v1',
    eventType,
    eventTime: new Date().toISOString(),
    data,
    dataVersion: '1.0',
    metadataVersion: '1',
  });
  const cloudEvent = (type: string, data: unknown) => ({
    specversion: '1.0',
    id: randomUUID(),
    type,
    source: topic,
    subject: 'team/app:v1',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  });
  const verdict = (digest: string) =>
    until(async () => {
      const res = await fetch(`${sl.url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
      const body = (await res.json()) as Record<string, any>;
      return res.status === 200 && body.state !== 'pending' ? body : undefined;
    }, `a verdict for ${digest}`);
  const report = (digest: string) =>
    fetch(`${sl.url}/api/v1/gate/reports/${digest}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ SchemaVersion: 2, Results: [] }),
    });

  beforeAll(async () => {
    // The registry notifies nobody: every push the gate learns of comes through "Event Grid".
    registry = await startRegistry();
    sl = await startTestSafelist({
      extra: {
        auth: { tokens: [{ id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] }] },
        gate: {
          registries: [{ name: 'local', url: registry.url }],
          acrWebhook: { header: HEADER, secret: SECRET },
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
        },
      },
    });
    layout = await createLayout();
    await layout.image('one', { 'app/one.txt': 'one\n' });
    await layout.image('two', { 'app/two.txt': 'two\n' });
    await layout.image('three', { 'app/three.txt': 'three\n' });
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
  });

  it('answers both validation handshakes, and neither records anything', async () => {
    const before = await count('gate_events');
    const validation = [
      {
        id: randomUUID(),
        topic: '/subscriptions/0000',
        subject: '',
        data: {
          validationCode: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6',
          validationUrl: 'https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/gate/validate?id=0&token=x',
        },
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: new Date().toISOString(),
        metadataVersion: '1',
        dataVersion: '1',
      },
    ];
    const ok = await hook(validation, { headers: { 'aeg-event-type': 'SubscriptionValidation' } });
    expect(ok).toMatchObject({ status: 200, json: { validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' } });
    // A stranger's subscription (no secret) is not validated.
    expect((await hook(validation, { secret: null })).status).toBe(401);
    const pre = await hook(undefined, { method: 'OPTIONS', secret: null, headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' } });
    expect(pre.status).toBe(200);
    expect(pre.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
    expect(pre.headers.get('allow')).toMatch(/POST/);
    expect((await hook(undefined, { method: 'OPTIONS', secret: null })).status).toBe(400);
    expect(await count('gate_events')).toBe(before);
  });

  it('queues a push in the Event Grid schema once, however often it is delivered, and judges it', async () => {
    const digest = await layout.push('one', registry.host, 'team/app:v1');
    const delivery = [gridEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(digest, 'team/app'))];
    expect(await hook(delivery, { type: 'application/json; charset=utf-8' })).toMatchObject({
      status: 202,
      json: { accepted: 1, duplicates: 0, ignored: 0 },
    });
    expect(await hook(delivery)).toMatchObject({ status: 202, json: { accepted: 0, duplicates: 1, ignored: 0 } });
    // The same push through the native ACR webhook (same ACR event id) is a duplicate too.
    const native = await fetch(`${sl.url}/api/v1/gate/webhooks/acr`, {
      method: 'POST',
      headers: { [HEADER]: SECRET, 'content-type': 'application/json' },
      body: JSON.stringify(delivery[0]!.data),
    });
    expect(await native.json()).toMatchObject({ accepted: 0, duplicates: 1 });
    const rows = await sl.runtime.db.query<{ source: string }>('SELECT source FROM gate_events WHERE digest = $1', [digest]);
    expect(rows).toEqual([{ source: 'eventgrid' }]);
    await report(digest);
    expect((await verdict(digest)).state).toBe('pass');
  });

  it('accepts CloudEvents 1.0, one event or a batch, and ignores deletes, charts and non-manifest pushes', async () => {
    const two = await layout.push('two', registry.host, 'team/ce:v1');
    const three = await layout.push('three', registry.host, 'team/ce:v2');
    const single = await hook(cloudEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(two, 'team/ce')), {
      type: 'application/cloudevents+json; charset=utf-8',
    });
    expect(single).toMatchObject({ status: 202, json: { accepted: 1, duplicates: 0, ignored: 0 } });
    const batch = await hook(
      [
        cloudEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(three, 'team/ce')),
        cloudEvent('Microsoft.ContainerRegistry.ImageDeleted', { ...acrData(two, 'team/ce'), action: 'delete' }),
        cloudEvent('Microsoft.ContainerRegistry.ChartPushed', {
          id: randomUUID(),
          action: 'chart_push',
          target: { mediaType: 'application/vnd.acr.helm.chart', repository: 'charts/x', name: 'x', version: '1.0.0' },
        }),
        cloudEvent(
          'Microsoft.ContainerRegistry.ImagePushed',
          acrData(three, 'team/ce', {
            target: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: three, repository: 'team/ce' },
          }),
        ),
      ],
      { type: 'application/cloudevents-batch+json; charset=utf-8' },
    );
    expect(batch).toMatchObject({ status: 202, json: { accepted: 1, duplicates: 0, ignored: 3 } });
    const onlyIgnored = await hook([
      gridEvent('Microsoft.ContainerRegistry.ImageDeleted', { ...acrData(two, 'team/ce'), action: 'delete' }),
    ]);
    expect(onlyIgnored).toMatchObject({ status: 200, json: { accepted: 0, ignored: 1 } });
    await report(two);
    await report(three);
    expect([(await verdict(two)).state, (await verdict(three)).state]).toEqual(['pass', 'pass']);
  });

  it('refuses malformed and unauthenticated deliveries with a 4xx and records nothing', async () => {
    const before = { events: await count('gate_events'), images: await count('gate_images'), audit: await count('audit_log') };
    const digest = `sha256:${'f'.repeat(64)}`;
    const good = [gridEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(digest, 'team/app'))];
    expect((await hook(good, { secret: null })).status).toBe(401);
    expect((await hook(good, { secret: `${SECRET}x` })).status).toBe(401);
    expect((await hook(good, { type: 'text/plain' })).status).toBe(400);
    expect((await hook(good, { type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await hook('[{"id":', {})).status).toBe(400);
    expect((await hook(good[0])).status).toBe(400); // the Event Grid schema is always an array
    expect((await hook([...good, gridEvent('Microsoft.ContainerRegistry.ImagePushed', acrData('sha256:nothex', 'team/app'))])).status).toBe(
      400,
    );
    expect(
      (
        await hook([
          gridEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(digest, 'team/app', { request: { host: 'evil.example:5000' } })),
        ])
      ).status,
    ).toBe(400);
    expect((await hook([gridEvent('Microsoft.ContainerRegistry.ImagePushed', 'not an object')])).status).toBe(400);
    expect(
      (
        await hook([
          ...good,
          { ...good[0], id: randomUUID(), eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'x' } },
        ])
      ).status,
    ).toBe(400);
    expect(
      (
        await hook(
          { ...cloudEvent('Microsoft.ContainerRegistry.ImagePushed', acrData(digest, 'team/app')), specversion: '0.1' },
          { type: 'application/cloudevents+json' },
        )
      ).status,
    ).toBe(400);
    expect((await hook(good, { type: 'application/cloudevents-batch+json' })).status).toBe(400); // Event Grid schema sent as CloudEvents
    expect({ events: await count('gate_events'), images: await count('gate_images'), audit: await count('audit_log') }).toEqual(before);
  });
});
