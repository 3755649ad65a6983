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
import { registerCondaRoutes, type CondaRouteDeps } from './conda.js';
import type { CondaIndex } from '../ecosystems/conda/index.js';
import { recordBlocked } from '../policy/demand.js';

export interface AppDeps {
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  pypi: PypiIndex;
  conda?: CondaIndex;
  condaGzip?: boolean;
  logLevel?: string;
  onServed?: PypiRouteDeps['onServed'];
  onCondaServed?: CondaRouteDeps['onServed'];
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.logLevel ?? 'info' },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 300 },
    // Bad URLs and over-long path segments are refused by the router before any route runs:
    // they still get a problem+json body that says what is wrong.
    frameworkErrors: (err, req, reply) => {
      const e = toSafelistError(err);
      return sendProblem(req, reply, e.status === 414 ? errors.uriTooLong() : e);
    },
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toSafelistError(err);
    if (e.status >= 500 && e.code !== 'UNAVAILABLE') req.log.error({ err }, 'request failed');
    return sendProblem(req, reply, e);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(req, reply, errors.notFound(`no such resource: ${req.method} ${req.url.split('?')[0]}`)));

  registerPypiRoutes(app, {
    index: deps.pypi,
    store: deps.store,
    ...(deps.onServed ? { onServed: deps.onServed } : {}),
    onBlocked: (e) => recordBlocked(deps.db, 'pypi', e.name, e.view),
  });

  if (deps.conda) {
    registerCondaRoutes(app, {
      index: deps.conda,
      store: deps.store,
      gzip: deps.condaGzip ?? true,
      ...(deps.onCondaServed ? { onServed: deps.onCondaServed } : {}),
      onBlocked: (e) => recordBlocked(deps.db, 'conda', e.name, e.view),
    });
  }

  app.get<{ Querystring: { ecosystem?: string; name?: string; version?: string; view?: string; channel?: string; build?: string; subdir?: string } }>('/api/v1/policy/check', async (req) => {
    const { ecosystem, name, version, view = 'default', channel, build, subdir } = req.query;
    if (!ecosystem || !ECOSYSTEMS.includes(ecosystem as Ecosystem)) throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    if (!version) throw errors.badRequest('version is required (use /api/v1/policy/why for a name alone)');
    const policy = deps.policies.policy;
    if (!policy.hasView(view)) throw errors.unknownView(view, policy.viewNames());
    // conda records are also identified by channel, build string and subdir; each is checked when given.
    const condaParts = ecosystem === 'conda' ? { ...(channel ? { channel } : {}), ...(build ? { build } : {}), ...(subdir ? { subdir } : {}) } : {};
    const d = policy.decide({ ecosystem: ecosystem as Ecosystem, name, version, view, ...condaParts });
    return { ecosystem, name: policy.normalize(ecosystem as Ecosystem, name), version, view, ...condaParts, allowed: d.allowed, code: d.code, reason: d.reason, rule: d.rule ? ruleJson(d.rule) : null };
  });

  app.get<{ Querystring: { ecosystem?: string; name?: string; view?: string } }>('/api/v1/policy/why', async (req) => {
    const { ecosystem = 'pypi', name, view = 'default' } = req.query;
    if (!ECOSYSTEMS.includes(ecosystem as Ecosystem)) throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    return explainName({ policy: deps.policies.policy, pypi: deps.pypi, ...(deps.conda ? { conda: deps.conda } : {}) }, ecosystem as Ecosystem, name, view);
  });

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
  return {
    kind: r.kind, id: r.id ?? null, range: r.matcher.text || '*', view: r.view, expires: r.expires?.toISOString() ?? null, location: r.location ?? null, reason: r.reason ?? null,
    ...(r.ecosystem === 'conda' ? { channel: r.channel ?? null, build: r.build?.text ?? null, subdirs: r.subdirs ?? null } : {}),
  };
}
export { ruleJson };
