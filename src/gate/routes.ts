// The gate's HTTP surface under /api/v1/gate: registry webhooks (distribution: a bearer token
// with the webhook role; ACR, natively or through Event Grid: the configured shared-secret
// header, compared in constant time),
// scan reports posted by pipelines, and verdicts for pipelines. Webhooks are acknowledged at
// once and worked on asynchronously; a malformed or unauthenticated call gets a 4xx and
// records nothing. A posted report wakes the worker at once, and judges again an image that
// already passed or got no verdict (201 { id, digest, findings, judgedAgain: [images] }).
//
// The verdict document (GET /api/v1/gate/verdicts…), one shape whatever the state:
//   { image: {registry, repository, digest}, state, reason, blocked, purged, firstSeen, verdict }
//   state "pending": not decided yet (queued, waiting for a scan, or judged again after a new
//     report); verdict null; reason says what it waits for.
//   state "pass" | "fail" | "no-verdict": verdict is the decision, and verdict.outcome === state
//     always (the top-level state is read from it; the database refuses rows where they differ).
//   blocked / purged: what enforcement did to a failed image (null otherwise).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Authenticator } from '../auth/identity.js';
import type { GateConfig } from '../config/schema.js';
import { isDigest, isRepositoryName, isTag } from '../ecosystems/oci/names.js';
import { errors } from '../errors.js';
import { requireRole } from '../auth/guard.js';
import { parse } from '../validate.js';
import { trivyFindings, trivyReportSchema } from './providers/trivy.js';
import type { GateStore, ImageRow } from './store.js';
import type { Verdict } from './types.js';
import {
  acrEvent,
  acrPush,
  cloudEvents,
  distributionEnvelope,
  distributionPushes,
  eventGridEvents,
  eventGridPushes,
  type PushEvent,
} from './webhooks.js';
import type { GateRegistry } from './registry.js';

export interface GateRouteDeps {
  config: GateConfig;
  auth: Authenticator;
  store: GateStore;
  registries: GateRegistry[];
  /** Wakes the worker after new work arrived. */
  kick(): void;
}

export const DISTRIBUTION_EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const CLOUDEVENTS_TYPE = 'application/cloudevents+json';
export const CLOUDEVENTS_BATCH_TYPE = 'application/cloudevents-batch+json';

/** Equal strings, compared in time independent of where they differ (and of their length). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const digestParam = z.string().refine((d) => isDigest(d) && d.startsWith('sha256:'), 'a sha256 digest such as sha256:0123…(64 hex digits)');

/** `[host/]repository[:tag|@digest]` as pipelines name images. */
export function parseImageRef(image: string): { host?: string; repository: string; tag?: string; digest?: string } | undefined {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) return undefined;
  }
  let host: string | undefined;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    host = first.toLowerCase();
    rest = rest.slice(slash + 1);
  }
  if (!isRepositoryName(rest)) return undefined;
  return { repository: rest, ...(host ? { host } : {}), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

interface VerdictDocumentBase {
  image: { registry: string; repository: string; digest: string };
  reason: string | null;
  blocked: string | null;
  purged: string | null;
  firstSeen: string;
}

/** See the file header: pending has no verdict; a decision's state is its verdict's outcome. */
export type VerdictDocument = VerdictDocumentBase & ({ state: 'pending'; verdict: null } | { state: Verdict['outcome']; verdict: Verdict });

export function verdictDocument(row: ImageRow): VerdictDocument {
  const decided = row.state === 'pass' || row.state === 'fail' || row.state === 'no-verdict';
  const base = {
    image: { registry: row.registry, repository: row.repository, digest: row.digest },
    reason: row.reason,
    firstSeen: row.firstSeen.toISOString(),
  };
  if (!decided || !row.verdict) return { ...base, blocked: null, purged: null, state: 'pending', verdict: null };
  return { ...base, blocked: row.blocked, purged: row.purged, state: row.verdict.outcome, verdict: row.verdict };
}

export function registerGateRoutes(app: FastifyInstance, deps: GateRouteDeps): void {
  for (const type of [DISTRIBUTION_EVENTS_TYPE, CLOUDEVENTS_TYPE, CLOUDEVENTS_BATCH_TYPE]) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(errors.badRequest('the body is not JSON'), undefined);
      }
    });
  }
  const registryOf = (host: string): GateRegistry => {
    const r = deps.registries.find((x) => x.host === host);
    if (!r)
      throw errors.badRequest(
        `request.host ${host} is not a registry the gate knows; configured hosts: ${deps.registries.map((x) => x.host).join(', ') || 'none (set gate.registries)'}`,
      );
    return r;
  };
  const record = async (source: 'distribution' | 'acr' | 'eventgrid', pushes: PushEvent[], actor: string) => {
    // Every push must name a known registry before anything is recorded.
    const byRegistry = new Map<GateRegistry, PushEvent[]>();
    for (const p of pushes) {
      const r = registryOf(p.host);
      byRegistry.set(r, [...(byRegistry.get(r) ?? []), p]);
    }
    let fresh = 0;
    for (const [r, list] of byRegistry) fresh += (await deps.store.recordPushes(source, r.name, list, actor)).length;
    if (fresh) deps.kick();
    return fresh;
  };

  app.post('/api/v1/gate/webhooks/distribution', { onRequest: requireRole(deps.auth, ['webhook']) }, async (req, reply) => {
    if (!(req.headers['content-type'] ?? '').startsWith(DISTRIBUTION_EVENTS_TYPE))
      throw errors.badRequest(`send Content-Type: ${DISTRIBUTION_EVENTS_TYPE} (the distribution registry's notification envelope)`);
    const body = parse(distributionEnvelope, req.body, 'notification envelope');
    const r = distributionPushes(body);
    if ('problem' in r) throw errors.badRequest(`invalid notification envelope: ${r.problem}`);
    const fresh = await record('distribution', r.pushes, req.identity!.oid);
    return reply.code(202).send({ accepted: fresh, duplicates: r.pushes.length - fresh, ignored: r.ignored });
  });

  const acrAuth = async (req: FastifyRequest) => {
    const cfg = deps.config.acrWebhook;
    if (!cfg)
      throw errors.unauthenticated(
        'the ACR webhook is not enabled: set gate.acrWebhook (header and secret) and the same custom header on the ACR webhook',
      );
    const given = req.headers[cfg.header.toLowerCase()];
    if (typeof given !== 'string' || !secretsEqual(given, cfg.secret))
      throw errors.unauthenticated(
        `send the shared secret in the ${cfg.header} header (a custom header of the ACR webhook, or a static delivery header of the Event Grid subscription)`,
      );
  };
  app.post('/api/v1/gate/webhooks/acr', { onRequest: acrAuth }, async (req, reply) => {
    const body = parse(acrEvent, req.body, 'ACR webhook payload');
    const r = acrPush(body);
    if ('problem' in r) throw errors.badRequest(`invalid ACR webhook payload: ${r.problem}`);
    if ('ignored' in r) return reply.code(200).send({ accepted: 0, ignored: r.ignored });
    const fresh = await record('acr', [r.push], 'acr-webhook');
    return reply.code(202).send({ accepted: fresh, duplicates: 1 - fresh, ignored: 0 });
  });

  // ACR through Event Grid, which retries where native webhooks try once. Its own route rather
  // than /webhooks/acr: the bodies are arrays of envelopes (Event Grid schema) or CloudEvents,
  // not one payload; Event Grid needs its validation handshakes answered; and the trail says
  // which channel delivered. The same shared secret, as a static delivery header (marked
  // secret) of the event subscription; Event Grid sends it with the validation event too.
  const EVENTGRID = '/api/v1/gate/webhooks/eventgrid';
  // CloudEvents abuse protection (OPTIONS with WebHook-Request-Origin): consent, not
  // authentication (the spec says so, and delivery headers may not come with it); it records
  // nothing, and every delivery is still authenticated.
  app.options(EVENTGRID, async (req, reply) => {
    if (!deps.config.acrWebhook)
      throw errors.unauthenticated(
        'the Event Grid receiver is not enabled: set gate.acrWebhook (header and secret) and the same header as a delivery property of the event subscription',
      );
    const origin = req.headers['webhook-request-origin'];
    if (typeof origin !== 'string' || !/^[A-Za-z0-9.-]{1,253}$/.test(origin))
      throw errors.badRequest('an abuse-protection request needs WebHook-Request-Origin: <DNS name of the sender>');
    return reply
      .code(200)
      .header('WebHook-Allowed-Origin', origin)
      .header('WebHook-Allowed-Rate', '*')
      .header('Allow', 'POST, OPTIONS')
      .send();
  });
  app.post(EVENTGRID, { onRequest: acrAuth }, async (req, reply) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const events =
      type === 'application/json'
        ? parse(eventGridEvents, req.body, 'Event Grid events').map((e) => ({ id: e.id, type: e.eventType, data: e.data }))
        : type === CLOUDEVENTS_TYPE || type === CLOUDEVENTS_BATCH_TYPE
          ? parse(cloudEvents, req.body, 'CloudEvents').map((e) => ({ id: e.id, type: e.type, data: e.data }))
          : undefined;
    if (!events)
      throw errors.badRequest(
        `send the Event Grid schema (application/json) or CloudEvents 1.0 (${CLOUDEVENTS_TYPE}, ${CLOUDEVENTS_BATCH_TYPE})`,
      );
    const r = eventGridPushes(events);
    if ('problem' in r) throw errors.badRequest(`invalid Event Grid delivery: ${r.problem}`);
    // Event Grid wants 200 (not 202) with the code echoed to validate the subscription.
    if ('validationCode' in r) return reply.code(200).send({ validationResponse: r.validationCode });
    if (!r.pushes.length) return reply.code(200).send({ accepted: 0, duplicates: 0, ignored: r.ignored.length });
    const fresh = await record('eventgrid', r.pushes, 'eventgrid-webhook');
    return reply.code(202).send({ accepted: fresh, duplicates: r.pushes.length - fresh, ignored: r.ignored.length });
  });

  app.post<{ Params: { digest: string } }>(
    '/api/v1/gate/reports/:digest',
    { onRequest: requireRole(deps.auth, ['pipeline', 'admin']), bodyLimit: 64 * 1024 * 1024 },
    async (req, reply) => {
      const digest = parse(digestParam, req.params.digest, 'digest');
      const report = parse(trivyReportSchema, req.body, 'Trivy report');
      const r = trivyFindings(report, digest);
      if ('problem' in r) throw errors.badRequest(`this report does not belong to ${digest}: ${r.problem}`);
      const { id, requeued } = await deps.store.addReport(digest, 'trivy', r.findings, req.identity!.oid);
      deps.kick();
      return reply.code(201).send({ id, digest, findings: r.findings.length, judgedAgain: requeued });
    },
  );

  const readers = { onRequest: requireRole(deps.auth, ['pipeline', 'admin', 'auditor']) };
  const notSeen = (what: string) =>
    errors.notFound(
      `the gate has not received a push of ${what}; check that the registry's webhook points at /api/v1/gate/webhooks/…, or wait for the reconcile`,
    );

  app.get<{ Params: { digest: string } }>('/api/v1/gate/verdicts/:digest', readers, async (req) => {
    const digest = parse(digestParam, req.params.digest, 'digest');
    const row = await deps.store.byDigest(digest);
    if (!row) throw notSeen(digest);
    return verdictDocument(row);
  });

  app.get('/api/v1/gate/verdicts', readers, async (req) => {
    const { image } = parse(z.strictObject({ image: z.string().min(1).max(500) }), req.query, 'query');
    const ref = parseImageRef(image);
    if (!ref) throw errors.badRequest(`image must be [registry-host/]repository:tag or …@sha256:…, not ${image}`);
    const registry = ref.host ? deps.registries.find((r) => r.host === ref.host)?.name : undefined;
    if (ref.host && !registry)
      throw errors.badRequest(
        `${ref.host} is not a registry the gate knows; configured hosts: ${deps.registries.map((x) => x.host).join(', ') || 'none'}`,
      );
    let digest = ref.digest;
    if (!digest) {
      const t = await deps.store.digestOfTag(ref.repository, ref.tag ?? 'latest', registry);
      if (!t) throw notSeen(`${ref.repository}:${ref.tag ?? 'latest'}`);
      digest = t.digest;
    }
    const row = await deps.store.byDigest(digest, ref.repository, registry);
    if (!row) throw notSeen(`${ref.repository}@${digest}`);
    return verdictDocument(row);
  });
}
