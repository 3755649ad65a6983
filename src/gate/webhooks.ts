// Parses registry webhook bodies into the pushes the gate judges: the CNCF distribution
// notification envelope ({events:[…]}, retried forever with the same event id) and the ACR
// native webhook (one event, push/ping/delete/…, tried once). Only manifest pushes count;
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
function pushOf(e: { id: string; target?: z.infer<typeof target> | undefined; request?: z.infer<typeof request> | undefined }, where: string): PushEvent | string {
  const t = e.target ?? {};
  if (!t.repository || !isRepositoryName(t.repository)) return `${where}: target.repository is missing or not a repository name`;
  if (!t.digest || !isDigest(t.digest) || !t.digest.startsWith('sha256:')) return `${where}: target.digest is missing or not a sha256 digest`;
  if (t.tag !== undefined && t.tag !== '' && !isTag(t.tag)) return `${where}: target.tag is not a tag`;
  const host = e.request?.host;
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) return `${where}: request.host is missing or not a host[:port]`;
  return { id: e.id, host: host.toLowerCase(), repository: t.repository, digest: t.digest, ...(t.tag ? { tag: t.tag } : {}) };
}

/** The manifest pushes of a distribution envelope, or the reason it is refused. */
export function distributionPushes(body: z.infer<typeof distributionEnvelope>): { pushes: PushEvent[]; ignored: number } | { problem: string } {
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
