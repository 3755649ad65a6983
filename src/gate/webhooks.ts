// Parses registry webhook bodies into the pushes the gate judges: the CNCF distribution
// notification envelope ({events:[…]}, retried forever with the same event id), the ACR
// native webhook (one event, push/ping/delete/…, tried once) and ACR events delivered by Azure
// Event Grid (retried), in the Event Grid schema or as CloudEvents 1.0, whose data is the
// native webhook's payload. Only manifest pushes count;
// blob, pull, delete and ping events are acknowledged and ignored. A body that is not one of
// these shapes is refused (4xx) as a whole, so nothing from it is recorded. The payload is a
// hint: the worker re-reads the manifest by digest before anything is decided.
import { z } from 'zod';
import { isDigest, isRepositoryName, isTag } from '../ecosystems/oci/names.js';
import { MANIFEST_TYPES } from '../ecosystems/oci/manifest.js';

export interface PushEvent {
  id: string;
  host: string;
  repository: string;
  tag?: string;
  digest: string;
}

const MANIFEST_MEDIA_TYPES = new Set<string>(Object.values(MANIFEST_TYPES));

const target = z.looseObject({
  mediaType: z.string().optional(),
  digest: z.string().optional(),
  repository: z.string().optional(),
  tag: z.string().optional(),
});
const request = z.looseObject({ host: z.string().optional() });

const distributionEvent = z.looseObject({
  id: z.string().min(1).max(200),
  action: z.string().min(1),
  target: target,
  request: request.optional(),
});

export const distributionEnvelope = z.strictObject({ events: z.array(distributionEvent).max(1000) });

export const acrEvent = z.looseObject({
  id: z.string().min(1).max(200),
  action: z.string().min(1),
  target: target.optional(),
  request: request.optional(),
});

/** A manifest push's fields, checked; a string says what is wrong with it. */
function pushOf(
  e: { id: string; target?: z.infer<typeof target> | undefined; request?: z.infer<typeof request> | undefined },
  where: string,
): PushEvent | string {
  const t = e.target ?? {};
  if (!t.repository || !isRepositoryName(t.repository)) return `${where}: target.repository is missing or not a repository name`;
  if (!t.digest || !isDigest(t.digest) || !t.digest.startsWith('sha256:'))
    return `${where}: target.digest is missing or not a sha256 digest`;
  if (t.tag !== undefined && t.tag !== '' && !isTag(t.tag)) return `${where}: target.tag is not a tag`;
  const host = e.request?.host;
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) return `${where}: request.host is missing or not a host[:port]`;
  return { id: e.id, host: host.toLowerCase(), repository: t.repository, digest: t.digest, ...(t.tag ? { tag: t.tag } : {}) };
}

/** The manifest pushes of a distribution envelope, or the reason it is refused. */
export function distributionPushes(
  body: z.infer<typeof distributionEnvelope>,
): { pushes: PushEvent[]; ignored: number } | { problem: string } {
  const pushes: PushEvent[] = [];
  let ignored = 0;
  for (const [i, e] of body.events.entries()) {
    // Blob pushes carry application/octet-stream; manifests one of the manifest media types.
    if (e.action !== 'push' || !MANIFEST_MEDIA_TYPES.has(e.target.mediaType ?? '')) {
      ignored++;
      continue;
    }
    const p = pushOf(e, `events[${i}]`);
    if (typeof p === 'string') return { problem: p };
    pushes.push(p);
  }
  return { pushes, ignored };
}

/** An ACR webhook: a push to judge, a ping or another action to acknowledge, or a refusal. */
export function acrPush(body: z.infer<typeof acrEvent>): { push: PushEvent } | { ignored: string } | { problem: string } {
  if (body.action !== 'push') return { ignored: body.action };
  // ACR push payloads carry the manifest media type; Helm chart pushes use chart_push.
  if (body.target?.mediaType && !MANIFEST_MEDIA_TYPES.has(body.target.mediaType)) return { ignored: `push of ${body.target.mediaType}` };
  const p = pushOf(body, 'event');
  return typeof p === 'string' ? { problem: p } : { push: p };
}

/** Event Grid's event types for ACR; the data of each is the native webhook's payload. */
export const ACR_EVENT_TYPES = {
  imagePushed: 'Microsoft.ContainerRegistry.ImagePushed',
  imageDeleted: 'Microsoft.ContainerRegistry.ImageDeleted',
  chartPushed: 'Microsoft.ContainerRegistry.ChartPushed',
  chartDeleted: 'Microsoft.ContainerRegistry.ChartDeleted',
} as const;
export const SUBSCRIPTION_VALIDATION = 'Microsoft.EventGrid.SubscriptionValidationEvent';

/** The Event Grid schema: a JSON array of events (application/json). */
export const eventGridEvents = z
  .array(
    z.looseObject({
      id: z.string().min(1).max(200),
      eventType: z.string().min(1),
      subject: z.string().optional(),
      topic: z.string().optional(),
      data: z.unknown(),
    }),
  )
  .min(1)
  .max(1000);

/** CloudEvents 1.0 in structured mode, one (application/cloudevents+json) or a batch. */
const cloudEvent = z.looseObject({
  specversion: z.literal('1.0', { error: 'a CloudEvents 1.0 event (specversion "1.0")' }),
  id: z.string().min(1).max(200),
  type: z.string().min(1),
  source: z.string().min(1),
  subject: z.string().optional(),
  data: z.unknown(),
});
export const cloudEvents = z.union([cloudEvent.transform((e) => [e]), z.array(cloudEvent).min(1).max(1000)]);

export type EventGridOutcome = { validationCode: string } | { pushes: PushEvent[]; ignored: string[] } | { problem: string };

/**
 * The pushes in a batch of Event Grid deliveries (either schema, normalised to type/id/data),
 * the subscription validation handshake, or the reason the whole batch is refused. The dedupe
 * id is the ACR event's own id (data.id, as in the native webhook), so a push delivered both
 * natively and through Event Grid, or redelivered, is recorded once; the envelope id stands in
 * when data has none.
 */
export function eventGridPushes(events: Array<{ id: string; type: string; data: unknown }>): EventGridOutcome {
  const validation = events.find((e) => e.type === SUBSCRIPTION_VALIDATION);
  if (validation) {
    const code = (validation.data as { validationCode?: unknown } | null)?.validationCode;
    if (events.length !== 1) return { problem: 'a subscription validation event comes alone' };
    return typeof code === 'string' && code
      ? { validationCode: code }
      : { problem: 'the subscription validation event has no data.validationCode' };
  }
  const pushes: PushEvent[] = [];
  const ignored: string[] = [];
  for (const [i, e] of events.entries()) {
    // Deletes and Helm charts are acknowledged; so is any other type routed here by mistake.
    if (e.type !== ACR_EVENT_TYPES.imagePushed) {
      ignored.push(e.type);
      continue;
    }
    const data = e.data && typeof e.data === 'object' && !Array.isArray(e.data) ? (e.data as Record<string, unknown>) : undefined;
    if (!data) return { problem: `events[${i}]: data is not the registry's event object` };
    const parsed = acrEvent.safeParse({ ...data, id: typeof data.id === 'string' && data.id ? data.id : e.id });
    if (!parsed.success)
      return { problem: `events[${i}].data: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'data'}: ${x.message}`).join('; ')}` };
    const r = acrPush(parsed.data);
    if ('problem' in r) return { problem: r.problem.replace(/^event/, `events[${i}].data`) };
    if ('ignored' in r) ignored.push(r.ignored);
    else pushes.push(r.push);
  }
  return { pushes, ignored };
}
