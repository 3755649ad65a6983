// Assembles the HTTP surface: read paths per ecosystem, the policy API, health. No business
// logic here. The hot paths (/pypi, later /conda and /v2) get no hooks or middleware.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { errors } from '../errors.js';
import type { PypiIndex } from '../ecosystems/pypi/index.js';
import type { PolicyStore } from '../policy/store.js';
import type { BlobStore } from '../storage/types.js';
import type { Db } from '../state/db.js';
import { explainName } from '../policy/explain.js';
import { ECOSYSTEMS, type Ecosystem } from '../policy/types.js';
import { sendProblem, toSafelistError } from './errors.js';
import { registerPypiRoutes, type PypiRouteDeps } from './pypi.js';
import { recordBlocked } from '../policy/demand.js';
import { registerApiRoutes, type ApiDeps } from './api.js';
import type { OciCatalog } from '../ecosystems/oci/catalog.js';
import { isOciPath, registerOciRoutes, sendOciError } from './oci.js';
import { registerGateRoutes, type GateRouteDeps } from '../gate/routes.js';

export interface AppDeps {
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  pypi: PypiIndex;
  /** The OCI catalog; /v2/ is served when set. */
  oci?: OciCatalog;
  logLevel?: string;
  onServed?: PypiRouteDeps['onServed'];
  /** The management API (exceptions, audit); absent in read-only embeddings. */
  api?: Omit<ApiDeps, 'db' | 'policies'>;
  /** 'token': package routes need a valid token (pip sends it as Basic auth from the index URL). */
  packageRead?: 'anonymous' | 'token';
  /** The container gate's webhooks, reports and verdicts (/api/v1/gate). */
  gate?: GateRouteDeps;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.logLevel ?? 'info' },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
    // Larger socket buffers let a multi-GB layer stream in few large writes (measured by
    // bench/oci-blob.ts: the default 16 KiB paces every 1 MiB chunk through 'drain').
    http: { highWaterMark: 4 * 1024 * 1024 },
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 300 },
    // Bad URLs and over-long path segments are refused by the router before any route runs:
    // they still get a problem+json body that says what is wrong.
    frameworkErrors: (err, req, reply) => {
      const e = toSafelistError(err);
      if (isOciPath(req.url)) return sendOciError(req, reply, e);
      return sendProblem(req, reply, e.status === 414 ? errors.uriTooLong() : e);
    },
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toSafelistError(err);
    if (e.status >= 500 && e.code !== 'UNAVAILABLE') req.log.error({ err }, 'request failed');
    if (isOciPath(req.url)) return sendOciError(req, reply, e);
    return sendProblem(req, reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    const e = errors.notFound(`no such resource: ${req.method} ${req.url.split('?')[0]}`);
    return isOciPath(req.url) ? sendOciError(req, reply, e) : sendProblem(req, reply, e);
  });

  if (deps.packageRead === 'token') {
    // Fail closed: without an authenticator every package request is refused.
    const auth = deps.api?.auth;
    app.addHook('onRequest', async (req, reply) => {
      // pip and docker both answer a Basic challenge with the credentials they were given.
      if (!req.url.startsWith('/pypi/') && !isOciPath(req.url)) return;
      reply.header('www-authenticate', 'Basic realm="Safelist packages", charset="UTF-8"');
      if (!auth) throw errors.unauthenticated('package access needs a token, and no identities are configured');
      let who;
      try {
        who = await auth.authenticate(req.headers.authorization);
      } catch (err) {
        throw errors.unauthenticated(`package access needs a valid token: ${(err as Error).message}`);
      }
      if (!who) throw errors.unauthenticated('package access needs a token: put it in the index URL (https://user:TOKEN@host/pypi/VIEW/simple/) or a keyring');
      reply.removeHeader('www-authenticate');
    });
  }

  registerPypiRoutes(app, {
    index: deps.pypi,
    store: deps.store,
    ...(deps.onServed ? { onServed: deps.onServed } : {}),
    onBlocked: (e) => recordBlocked(deps.db, 'pypi', e.name, e.view),
  });

  if (deps.oci) {
    registerOciRoutes(app, { catalog: deps.oci, policies: deps.policies, store: deps.store, onBlocked: (e) => recordBlocked(deps.db, 'oci', e.name, e.view) });
  }

  app.get<{ Querystring: { ecosystem?: string; name?: string; version?: string; view?: string } }>('/api/v1/policy/check', async (req) => {
    const { ecosystem, name, version, view = 'default' } = req.query;
    if (!ecosystem || !ECOSYSTEMS.includes(ecosystem as Ecosystem)) throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    if (!version) throw errors.badRequest('version is required (use /api/v1/policy/why for a name alone)');
    const policy = deps.policies.policy;
    if (!policy.hasView(view)) throw errors.unknownView(view, policy.viewNames());
    const d = policy.decide({ ecosystem: ecosystem as Ecosystem, name, version, view });
    return { ecosystem, name: policy.normalize(ecosystem as Ecosystem, name), version, view, allowed: d.allowed, code: d.code, reason: d.reason, rule: d.rule ? ruleJson(d.rule) : null };
  });

  app.get<{ Querystring: { ecosystem?: string; name?: string; view?: string } }>('/api/v1/policy/why', async (req) => {
    const { ecosystem = 'pypi', name, view = 'default' } = req.query;
    if (!ECOSYSTEMS.includes(ecosystem as Ecosystem)) throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    return explainName({ policy: deps.policies.policy, pypi: deps.pypi, ...(deps.oci ? { oci: deps.oci } : {}) }, ecosystem as Ecosystem, name, view);
  });

  if (deps.api) registerApiRoutes(app, { ...deps.api, db: deps.db, policies: deps.policies });
  if (deps.gate) registerGateRoutes(app, deps.gate);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    await deps.db.query('SELECT 1').then(() => (checks.database = 'ok'), (e: Error) => (checks.database = e.message));
    await deps.store.stat('sha256/00/readiness').then(() => (checks.storage = 'ok'), (e: Error) => (checks.storage = e.message));
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });

  return app;
}

function ruleJson(r: import('../policy/types.js').Rule) {
  return { kind: r.kind, id: r.id ?? null, range: r.matcher.text || '*', view: r.view, expires: r.expires?.toISOString() ?? null, location: r.location ?? null, reason: r.reason ?? null };
}
export { ruleJson };
