// Assembles the HTTP surface: each registered ecosystem's read path (its module's routes), the
// policy API, health. No business logic here, and no ecosystem named: everything loops over
// the opened ecosystems. The hot paths (the ecosystems' read paths) get no hooks or middleware.
// With auth.packageRead token it must never tell a view's rules, or which views exist, to a
// caller without a token granted that view (the policy queries are checked as the read paths).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { errors, SafelistError } from '../errors.js';
import type { PolicyStore } from '../policy/store.js';
import type { BlobStore } from '../storage/types.js';
import type { Db } from '../state/db.js';
import { explainSyncFailures } from '../audit/sync-failures.js';
import { explainName } from '../policy/explain.js';
import type { Rule } from '../policy/types.js';
import { ecosystemIds, grammars } from '../ecosystems/index.js';
import { imageIndexOf, type AdvisorySource, type OpenEcosystem, type ServedEvent } from '../ecosystems/types.js';
import { sendProblem, toSafelistError } from './errors.js';
import { recordBlocked } from '../policy/demand.js';
import { parse, registerApiRoutes, schemas, type ApiDeps } from './api.js';
import type { Metrics } from './metrics.js';
import type { Config } from '../config/schema.js';
import { onboardingBase, workspaceConfig } from '../onboarding/workspace.js';
import { registerGateRoutes, type GateRouteDeps } from '../gate/routes.js';
import { refuseUnstorableText } from './text-input.js';
import { appLogging } from './request-logger.js';
import { lazySchemaCompilers } from './schema-compilers.js';
import { packageReader, requireRead } from '../auth/guard.js';

export interface AppDeps {
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  /** The opened ecosystems whose read paths are served (each registers its own routes). */
  ecosystems: ReadonlyMap<string, OpenEcosystem>;
  logLevel?: string;
  /** A file about to be sent (GET), by ecosystem: for the download log; must return at once. */
  onServed?: (ecosystem: string, e: ServedEvent) => void;
  /** The management API (exceptions, audit); absent in read-only embeddings. */
  api?: Omit<ApiDeps, 'db' | 'policies'>;
  metrics?: Metrics;
  /** The configuration (for onboarding snippets). */
  config?: Config;
  /** 'token': package routes need a valid token granted the URL's view (pip sends it as Basic auth from the index URL). */
  packageRead?: 'anonymous' | 'token';
  /** The container gate's webhooks, reports and verdicts (/api/v1/gate). */
  gate?: GateRouteDeps;
  /** Imported advisories, for read paths that answer audits from them (npm audit); absent: those routes are not served. */
  advisories?: AdvisorySource;
}

/** Errors in the dialect of the ecosystem whose read path the URL is on (OCI's {errors:[…]}), else problem+json. */
function errorSender(ecosystems: ReadonlyMap<string, OpenEcosystem>) {
  const dialects = [...ecosystems.values()].flatMap(({ module: { surface } }) =>
    surface.sendError ? [{ on: onSurface(surface), send: surface.sendError }] : [],
  );
  /** asProblem: how a problem+json answer restates the error (a dialect gets it as it is). */
  return (req: FastifyRequest, reply: FastifyReply, e: SafelistError, asProblem = (x: SafelistError) => x) => {
    const dialect = dialects.find((d) => d.on(req.url));
    return dialect ? dialect.send(req, reply, e) : sendProblem(req, reply, asProblem(e));
  };
}

/** Is a URL on this read path (the surface's own test, or its prefix)? */
function onSurface(surface: OpenEcosystem['module']['surface']): (url: string) => boolean {
  return surface.matches ?? ((url) => url.startsWith(surface.prefix));
}

/** The view a read-path URL reads (the surface's own answer, or the segment after its prefix). */
function viewOnSurface(surface: OpenEcosystem['module']['surface']): (url: string) => string | undefined {
  if (surface.viewOf) return surface.viewOf;
  const from = surface.prefix.length;
  return (url) => {
    let end = from;
    while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
    return url.slice(from, end);
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const sendError = errorSender(deps.ecosystems);
  const readPaths = [...deps.ecosystems.values()].map(({ module: { surface } }) => ({
    on: onSurface(surface),
    viewOf: viewOnSurface(surface),
  }));
  // No logger of fastify's own (it would add listeners to every response): the instance's log is
  // set below, and req.log is its child with the request id, made only when a request logs.
  const logging = appLogging(deps.logLevel ?? 'info');
  const app = Fastify({
    ...logging.options,
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
    // ajv and fast-json-stringify load only for a route with a fastify schema (none today).
    schemaController: { compilersFactory: lazySchemaCompilers },
    // Larger socket buffers let a multi-GB layer stream in few large writes where a store is
    // streamed (Azure Blob; the default 16 KiB paced every chunk through 'drain' in
    // bench/oci-blob.ts). The local-folder store writes 2 MiB buffers itself (blob-response.ts).
    // Responses count themselves in the request metrics as their head is written (metrics.ts).
    http: { highWaterMark: 4 * 1024 * 1024, ...(deps.metrics ? { ServerResponse: deps.metrics.Response } : {}) },
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 300 },
    // conda clients carry a token in the path (channel URL https://host/t/<token>/conda/…):
    // take it out before routing and keep it, still encoded, for the access check. Nothing here
    // may throw: this runs outside every handler, and a throw ends the process. The token is
    // decoded in the access check, where a bad encoding is a 401 like any other bad token.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      if (!url.startsWith('/t/')) return url;
      const m = /^\/t\/([^/]{1,512})(\/.*)$/.exec(url);
      if (!m) return url;
      (req as { safelistPathToken?: string }).safelistPathToken = m[1]!;
      return m[2]!;
    },
    // Bad URLs and over-long path segments are refused by the router before any route runs:
    // they still get a problem+json body that says what is wrong.
    frameworkErrors: (err, req, reply) => {
      const e = toSafelistError(err);
      return sendError(req, reply, e, (p) => (p.status === 414 ? errors.uriTooLong() : p));
    },
  });
  app.log = logging.log;

  app.setErrorHandler((err, req, reply) => {
    const e = toSafelistError(err);
    if (e.status >= 500 && e.code !== 'UNAVAILABLE') req.log.error({ err }, 'request failed');
    return sendError(req, reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    const e = errors.notFound(`no such resource: ${req.method} ${req.url.split('?')[0]}`);
    return sendError(req, reply, e);
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
    // Fail closed: without an authenticator every package request is refused (packageReader).
    const auth = deps.api?.auth;
    for (const warning of auth?.readGrantWarnings() ?? []) app.log.warn(warning);
    const tokenHint = [...deps.ecosystems.values()].map((e) => e.module.surface.tokenHint).join(', ');
    app.addHook('onRequest', async (req, reply) => {
      const path = readPaths.find((p) => p.on(req.url));
      if (!path) return;
      // pip and docker both answer a Basic challenge with the credentials they were given.
      reply.header('www-authenticate', 'Basic realm="Safelist packages", charset="UTF-8"');
      const pathToken = (req.raw as { safelistPathToken?: string }).safelistPathToken;
      const who = await packageReader(auth, pathToken, req.headers.authorization, tokenHint);
      reply.removeHeader('www-authenticate');
      // The download log records who pulled each file (blob-response.ts servedBy).
      req.identity = who;
      // The view the route will serve, granted or 403 (a Set lookup; the token was checked above).
      const view = path.viewOf(req.url);
      if (view !== undefined) requireRead(auth!, who, view);
    });
  }

  for (const [id, eco] of deps.ecosystems) {
    eco.routes(app, {
      store: deps.store,
      policies: deps.policies,
      ...(deps.advisories ? { advisories: deps.advisories } : {}),
      ...(deps.onServed ? { onServed: (e: ServedEvent) => deps.onServed!(id, e) } : {}),
      onBlocked: (e) => {
        deps.metrics?.blocked.inc({ ecosystem: id });
        recordBlocked(deps.db, id, e.name, e.view);
      },
    });
  }

  const viewReader = policyReader(deps);

  // Queries are validated: a parameter given twice arrives as an array, never as a string.
  app.get('/api/v1/policy/check', viewReader.route, async (req) => {
    const { ecosystem, name, version, view = 'default', channel, build, subdir } = parse(schemas.policyCheck, req.query, 'query');
    const grammar = ecosystem ? grammars[ecosystem] : undefined;
    if (!ecosystem || !grammar) throw errors.badRequest(`ecosystem must be one of ${ecosystemIds.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    if (!version) throw errors.badRequest('version is required (use /api/v1/policy/why for a name alone)');
    viewReader.mayRead(req, view);
    const policy = deps.policies.policy;
    if (!policy.hasView(view)) throw errors.unknownView(view, policy.viewNames());
    // Records of a channel grammar (conda) are also identified by channel, build string and subdir; each is checked when given.
    const channelParts = grammar.channels
      ? { ...(channel ? { channel } : {}), ...(build ? { build } : {}), ...(subdir ? { subdir } : {}) }
      : {};
    const d = policy.decide({ ecosystem, name, version, view, ...channelParts });
    return {
      ecosystem,
      name: policy.normalize(ecosystem, name),
      version,
      view,
      ...channelParts,
      allowed: d.allowed,
      code: d.code,
      reason: d.reason,
      rule: d.rule ? ruleJson(d.rule) : null,
    };
  });

  app.get('/api/v1/policy/why', viewReader.route, async (req) => {
    const { ecosystem = ecosystemIds[0]!, name, view = 'default' } = parse(schemas.policyWhy, req.query, 'query');
    if (!grammars[ecosystem]) throw errors.badRequest(`ecosystem must be one of ${ecosystemIds.join(', ')}`);
    if (!name) throw errors.badRequest('name is required');
    viewReader.mayRead(req, view);
    const source = deps.ecosystems.get(ecosystem);
    const e = explainName(
      { policy: deps.policies.policy, ...(source ? { source, item: source.module.names.item } : {}) },
      ecosystem,
      name,
      view,
    );
    // The refused files the CLI names too (the last sync's audit record), when the trail is here.
    return deps.api && source ? explainSyncFailures(e, deps.api.audit, source.module.names.fileOf) : e;
  });

  const images = imageIndexOf(deps.ecosystems);
  if (deps.api) registerApiRoutes(app, { ...deps.api, db: deps.db, policies: deps.policies, ...(images ? { images } : {}) });
  if (deps.gate) registerGateRoutes(app, deps.gate);

  deps.metrics?.install(app);

  // Workspace onboarding: client configuration for a view (no secrets; tokens are added by the CLI).
  if (deps.config) {
    const config = deps.config;
    app.get<{ Params: { view: string } }>('/api/v1/workspaces/:view/config', viewReader.route, async (req) => {
      const { view } = req.params;
      viewReader.mayRead(req, view);
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

/**
 * The API routes that tell what a view holds (its rules, its exceptions, the names it knows, which
 * views exist): with auth.packageRead token they need what the view's read path needs, a token
 * granted that view (401 without a valid one, 403 READ_NOT_GRANTED naming the view otherwise),
 * checked before the view's existence so that an unknown view says nothing about which exist.
 * With anonymous package reads they stay open, as the packages themselves are.
 */
function policyReader(deps: AppDeps): {
  route: { onRequest?: (req: FastifyRequest, reply: FastifyReply) => Promise<void> };
  mayRead: (req: FastifyRequest, view: string) => void;
} {
  if (deps.packageRead !== 'token') return { route: {}, mayRead: () => undefined };
  const auth = deps.api?.auth;
  const hint = 'send the token you read packages with (Authorization: Bearer <token>)';
  return {
    route: {
      onRequest: async (req, reply) => {
        try {
          req.identity = await packageReader(auth, undefined, req.headers.authorization, hint);
        } catch (err) {
          if (err instanceof SafelistError && err.status === 401) reply.header('www-authenticate', 'Bearer realm="safelist"');
          throw err;
        }
      },
    },
    // packageReader refused every request when there is no authenticator (fail closed).
    mayRead: (req, view) => requireRead(auth!, req.identity!, view),
  };
}

function ruleJson(r: Rule) {
  return {
    kind: r.kind,
    id: r.id ?? null,
    range: r.matcher.text || '*',
    view: r.view,
    expires: r.expires?.toISOString() ?? null,
    location: r.location ?? null,
    reason: r.reason ?? null,
    ...(grammars[r.ecosystem]?.channels ? { channel: r.channel ?? null, build: r.build?.text ?? null, subdirs: r.subdirs ?? null } : {}),
  };
}
export { ruleJson };
