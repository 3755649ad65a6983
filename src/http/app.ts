// Assembles the HTTP surface: read paths per ecosystem, the policy API, health. No business
// logic here. The hot paths (/pypi, later /conda and /v2) get no hooks or middleware.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { errors, SafelistError } from '../errors.js';
import type { PypiIndex } from '../ecosystems/pypi/index.js';
import type { PolicyStore } from '../policy/store.js';
import type { BlobStore } from '../storage/types.js';
import type { Db } from '../state/db.js';
import { explainName, type ExplainNpm } from '../policy/explain.js';
import { ECOSYSTEMS, type Ecosystem } from '../policy/types.js';
import { sendProblem, toSafelistError } from './errors.js';
import { registerPypiRoutes, type PypiRouteDeps } from './pypi.js';
import { registerCondaRoutes, type CondaRouteDeps } from './conda.js';
import type { CondaIndex } from '../ecosystems/conda/index.js';
import { recordBlocked } from '../policy/demand.js';
import { parse, registerApiRoutes, schemas, type ApiDeps } from './api.js';
import type { Metrics } from './metrics.js';
import type { Config } from '../config/schema.js';
import { onboardingBase, workspaceConfig } from '../onboarding/workspace.js';
import type { OciCatalog } from '../ecosystems/oci/catalog.js';
import { isOciPath, registerOciRoutes, sendOciError, type OciRouteDeps } from './oci.js';
import { registerGateRoutes, type GateRouteDeps } from '../gate/routes.js';
import { refuseUnstorableText } from './text-input.js';
import { sendBlob, servedBy, type ServedFile } from './blob-response.js';
import { registerNpmRoutes, type NpmRouteDeps } from '../ecosystems/npm/routes.js'; // npm (issue 12)
import type { NpmIndex } from '../ecosystems/npm/index.js'; // npm (issue 12)
import { registerNpmAuditRoute, type NpmAdvisorySource } from '../ecosystems/npm/audit.js';

export interface AppDeps {
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  pypi: PypiIndex;
  /** The OCI catalog; /v2/ is served when set. */
  oci?: OciCatalog;
  conda?: CondaIndex;
  condaGzip?: boolean;
  logLevel?: string;
  onServed?: PypiRouteDeps['onServed'];
  onCondaServed?: CondaRouteDeps['onServed'];
  onOciServed?: OciRouteDeps['onServed'];
  /** npm (issue 12): /npm/ is served when set; onNpmServed is told of each tarball sent. */
  npm?: NpmIndex;
  onNpmServed?: (e: ServedFile) => void;
  /** The management API (exceptions, audit); absent in read-only embeddings. */
  api?: Omit<ApiDeps, 'db' | 'policies'>;
  metrics?: Metrics;
  /** The configuration (for onboarding snippets). */
  config?: Config;
  /** 'token': package routes need a valid token (pip sends it as Basic auth from the index URL). */
  packageRead?: 'anonymous' | 'token';
  /** The container gate's webhooks, reports and verdicts (/api/v1/gate). */
  gate?: GateRouteDeps;
  /** Imported advisories: npm's audit endpoint (/npm/{view}/-/npm/v1/security/advisories/bulk) is served when set. */
  npmAdvisories?: NpmAdvisorySource;
  /** What `why` reads about npm names (versions known, their decision). */
  npmExplain?: ExplainNpm;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.logLevel ?? 'info' },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
    // Larger socket buffers let a multi-GB layer stream in few large writes where a store is
    // streamed (Azure Blob; the default 16 KiB paced every chunk through 'drain' in
    // bench/oci-blob.ts). The local-folder store writes 2 MiB buffers itself (blob-response.ts).
    http: { highWaterMark: 4 * 1024 * 1024 },
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 300 },
    // conda clients carry a token in the path (channel URL https://host/t/<token>/conda/…):
    // take it out before routing and keep it, still encoded, for the access check. Nothing here
    // may throw: this runs outside every handler, and a throw ends the process. The token is
    // decoded in the access check, where a bad encoding is a 401 like any other bad token.
    rewriteUrl: (req) => {
      const m = /^\/t\/([^/]{1,512})(\/.*)$/.exec(req.url ?? '');
      if (!m) return req.url ?? '/';
      (req as { safelistPathToken?: string }).safelistPathToken = m[1]!;
      return m[2]!;
    },
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

  // Every management-API route refuses text a database cannot store (NUL, lone surrogates)
  // before its handler runs, after its own authentication. Added here, before any route, so
  // routes added later get it too; the read paths (/pypi, /conda, /v2) stay hook-free.
  app.addHook('onRoute', (route) => {
    if (!route.url?.startsWith('/api/')) return;
    route.preHandler = [
      ...(route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]),
      refuseUnstorableText,
    ];
  });

  if (deps.packageRead === 'token') {
    // Fail closed: without an authenticator every package request is refused.
    const auth = deps.api?.auth;
    app.addHook('onRequest', async (req, reply) => {
      // pip and docker both answer a Basic challenge with the credentials they were given.
      // npm (issue 12): /npm/ is a package route too.
      if (!req.url.startsWith('/pypi/') && !req.url.startsWith('/conda/') && !req.url.startsWith('/npm/') && !isOciPath(req.url)) return;
      const pathToken = (req.raw as { safelistPathToken?: string }).safelistPathToken;
      reply.header('www-authenticate', 'Basic realm="Safelist packages", charset="UTF-8"');
      if (!auth) throw errors.unauthenticated('package access needs a token, and no identities are configured');
      let who;
      try {
        who =
          pathToken !== undefined
            ? await auth.fromToken(decodeURIComponent(pathToken))
            : await auth.authenticate(req.headers.authorization);
      } catch (err) {
        // "Cannot check now" (the Entra keys unreachable: 503) is not "invalid token" (401).
        if (err instanceof SafelistError) throw err;
        throw errors.unauthenticated(`package access needs a valid token: ${(err as Error).message}`);
      }
      if (!who)
        throw errors.unauthenticated(
          'package access needs a token: pip https://user:TOKEN@host/pypi/VIEW/simple/, conda https://host/t/TOKEN/conda/VIEW, npm //host/npm/VIEW/:_authToken=TOKEN in .npmrc, docker login with the token as password',
        );
      reply.removeHeader('www-authenticate');
      // The download log records who pulled each file (blob-response.ts servedBy).
      req.identity = who;
    });
  }

  registerPypiRoutes(app, {
    index: deps.pypi,
    store: deps.store,
    ...(deps.onServed ? { onServed: deps.onServed } : {}),
    onBlocked: (e) => {
      deps.metrics?.blocked.inc({ ecosystem: 'pypi' });
      recordBlocked(deps.db, 'pypi', e.name, e.view);
    },
  });

  if (deps.oci) {
    registerOciRoutes(app, {
      catalog: deps.oci,
      policies: deps.policies,
      store: deps.store,
      ...(deps.onOciServed ? { onServed: deps.onOciServed } : {}),
      onBlocked: (e) => {
        deps.metrics?.blocked.inc({ ecosystem: 'oci' });
        recordBlocked(deps.db, 'oci', e.name, e.view);
      },
    });
  }

  if (deps.conda) {
    registerCondaRoutes(app, {
      index: deps.conda,
      store: deps.store,
      gzip: deps.condaGzip ?? true,
      ...(deps.onCondaServed ? { onServed: deps.onCondaServed } : {}),
      onBlocked: (e) => {
        deps.metrics?.blocked.inc({ ecosystem: 'conda' });
        recordBlocked(deps.db, 'conda', e.name, e.view);
      },
    });
  }

  // npm (issue 12): the routes live in the npm folder; tarballs go out through sendBlob like every file.
  if (deps.npm) registerNpmRoutes(app, npmRouteDeps(app, deps, deps.npm));
  if (deps.npmAdvisories) registerNpmAuditRoute(app, { advisories: deps.npmAdvisories, policy: () => deps.policies.policy });

  // Queries are validated: a parameter given twice arrives as an array, never as a string.
  app.get('/api/v1/policy/check', async (req) => {
    const { ecosystem, name, version, view = 'default', channel, build, subdir } = parse(schemas.policyCheck, req.query, 'query');
    if (!ecosystem || !ECOSYSTEMS.includes(ecosystem as Ecosystem))
      throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    if (!version) throw errors.badRequest('version is required (use /api/v1/policy/why for a name alone)');
    const policy = deps.policies.policy;
    if (!policy.hasView(view)) throw errors.unknownView(view, policy.viewNames());
    // conda records are also identified by channel, build string and subdir; each is checked when given.
    const condaParts =
      ecosystem === 'conda' ? { ...(channel ? { channel } : {}), ...(build ? { build } : {}), ...(subdir ? { subdir } : {}) } : {};
    const d = policy.decide({ ecosystem: ecosystem as Ecosystem, name, version, view, ...condaParts });
    return {
      ecosystem,
      name: policy.normalize(ecosystem as Ecosystem, name),
      version,
      view,
      ...condaParts,
      allowed: d.allowed,
      code: d.code,
      reason: d.reason,
      rule: d.rule ? ruleJson(d.rule) : null,
    };
  });

  app.get('/api/v1/policy/why', async (req) => {
    const { ecosystem = 'pypi', name, view = 'default' } = parse(schemas.policyWhy, req.query, 'query');
    if (!ECOSYSTEMS.includes(ecosystem as Ecosystem)) throw errors.badRequest(`ecosystem must be one of ${ECOSYSTEMS.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    return explainName(
      {
        policy: deps.policies.policy,
        pypi: deps.pypi,
        ...(deps.oci ? { oci: deps.oci } : {}),
        ...(deps.conda ? { conda: deps.conda } : {}),
        ...(deps.npmExplain ? { npm: deps.npmExplain } : {}),
      },
      ecosystem as Ecosystem,
      name,
      view,
    );
  });

  if (deps.api) registerApiRoutes(app, { ...deps.api, db: deps.db, policies: deps.policies });
  if (deps.gate) registerGateRoutes(app, deps.gate);

  deps.metrics?.install(app);

  // Workspace onboarding: client configuration for a view (no secrets; tokens are added by the CLI).
  if (deps.config) {
    const config = deps.config;
    app.get<{ Params: { view: string } }>('/api/v1/workspaces/:view/config', async (req) => {
      const { view } = req.params;
      if (!deps.policies.policy.hasView(view)) throw errors.unknownView(view, deps.policies.policy.viewNames());
      // Never the Host header: the caller chooses it (see onboardingBase).
      return workspaceConfig(config, view, onboardingBase(config.server.publicUrl, app.server.address()));
    });
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    // Each dependency gets 2 s: a hung store or database is "not ready", not a hung probe
    // (the Azure SDK alone retries for ~16 s before it gives up).
    const within = <T>(p: Promise<T>) =>
      Promise.race([p.then(() => 'ok'), new Promise<string>((r) => setTimeout(() => r('no answer within 2 s'), 2000).unref())]).catch(
        (e: Error) => e.message,
      );
    const [database, storage] = await Promise.all([within(deps.db.query('SELECT 1')), within(deps.store.stat('sha256/00/readiness'))]);
    const checks: Record<string, string> = { database, storage };
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });

  return app;
}

function ruleJson(r: import('../policy/types.js').Rule) {
  return {
    kind: r.kind,
    id: r.id ?? null,
    range: r.matcher.text || '*',
    view: r.view,
    expires: r.expires?.toISOString() ?? null,
    location: r.location ?? null,
    reason: r.reason ?? null,
    ...(r.ecosystem === 'conda' ? { channel: r.channel ?? null, build: r.build?.text ?? null, subdirs: r.subdirs ?? null } : {}),
  };
}
export { ruleJson };

/** npm (issue 12): what the npm routes need from the HTTP layer. */
function npmRouteDeps(app: FastifyInstance, deps: AppDeps, index: NpmIndex): NpmRouteDeps {
  return {
    index,
    sendFile: (req, reply, file) => sendBlob(deps.store, req, reply, file),
    // Never the Host header (see onboardingBase): tarball URLs name the public URL or the listening address.
    origin: () => onboardingBase(deps.config?.server.publicUrl, app.server.address()).replace(/\/$/, ''),
    ...(deps.onNpmServed
      ? { onServed: (req, view, v) => deps.onNpmServed!({ ...servedBy(req, view, v.name, v.version), sha256: v.sha256 ?? '' }) }
      : {}),
    onBlocked: (e) => {
      deps.metrics?.blocked.inc({ ecosystem: 'npm' });
      recordBlocked(deps.db, 'npm', e.name, e.view);
    },
  };
}
