// The management API under /api/v1: exceptions (request, list, show, approve, reject,
// revoke), audit (query, JSON Lines export, verify), demand insight and policy reload. Every
// route names the roles it admits; which exceptions a caller is shown is the service's
// (exceptions/scope.ts). Request bodies and queries are validated with zod and answered with
// problem+json that says what to fix. The OpenAPI document is generated from the same schemas
// (/api/v1/openapi.json).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Authenticator, Role } from '../auth/identity.js';
import type { AuditLog, AuditQuery } from '../audit/log.js';
import type { MirroredImages } from '../gate/image-incidents.js';
import { demandViews } from '../exceptions/scope.js';
import type { ExceptionRequest, ExceptionService } from '../exceptions/service.js';
import { mostWanted } from '../policy/demand.js';
import type { PolicyStore } from '../policy/store.js';
import { ecosystemIds } from '../ecosystems/index.js';
import type { Db } from '../state/db.js';
import { parse } from '../validate.js';
import { requireRole } from '../auth/guard.js';
import { incidentOf, incidentParams } from '../jobs/downloads.js';

export interface ApiDeps {
  db: Db;
  auth: Authenticator;
  exceptions: ExceptionService;
  audit: AuditLog;
  policies: PolicyStore;
  /** The OCI mirror's catalog, for image incidents (a tag's current digest, an index's platforms). */
  images?: MirroredImages;
}

const ecosystem = z.enum(ecosystemIds as [string, ...string[]]);
const exceptionId = z.string().regex(/^EXC-\d{1,12}$/, 'an exception id such as EXC-1001');
const states = z.enum(['requested', 'active', 'rejected', 'expired', 'revoked']);

export const schemas = {
  createException: z.strictObject({
    ecosystem,
    name: z.string().min(1).max(200),
    versions: z
      .string()
      .max(200)
      .default('')
      .describe('a version range in the ecosystem\'s grammar ("==2.1.0", ">=1.4,<2"); empty = every version'),
    view: z.string().min(1).max(64).describe('the workspace view, or "*" for every view (admins approve those)'),
    reason: z.string().trim().min(10, 'say why you need it, in at least 10 characters').max(2000),
    expires: z.iso.date().or(z.iso.datetime()).optional().describe('end of validity; default and maximum are configured'),
    dependencies: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(200),
          versions: z.string().max(200).default(''),
          reason: z.string().trim().min(10, 'say why you need it, in at least 10 characters').max(2000).optional(),
        }),
      )
      .max(50, 'at most 50 dependencies in one request')
      .optional()
      .describe(
        'packages it needs that the view would refuse, requested together (a bundle): same ecosystem, view and expiry; each its own exception, decided on its own',
      ),
  }),
  decision: z.strictObject({ note: z.string().max(2000).optional() }),
  listExceptions: z.strictObject({
    state: states.optional(),
    view: z.string().max(64).optional(),
    ecosystem: ecosystem.optional(),
    name: z.string().max(200).optional(),
    requestedBy: z.string().max(200).optional(),
    bundle: exceptionId.optional().describe('the requests asked together with this one (its dependencies)'),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  }),
  // The policy queries take unknown parameters as before (clients add their own); each known one is one string.
  policyCheck: z.object({
    ecosystem: z.string().max(20).optional(),
    name: z.string().max(300).optional(),
    version: z.string().max(200).optional(),
    view: z.string().max(64).optional(),
    channel: z.string().max(200).optional(),
    build: z.string().max(200).optional(),
    subdir: z.string().max(64).optional(),
  }),
  policyWhy: z.object({
    ecosystem: z.string().max(20).optional(),
    name: z.string().max(300).optional(),
    view: z.string().max(64).optional(),
  }),
  auditQuery: z.strictObject({
    afterSeq: z.coerce.number().int().min(0).optional(),
    since: z.iso.datetime().or(z.iso.date()).optional(),
    until: z.iso.datetime().or(z.iso.date()).optional(),
    actor: z.string().max(200).optional(),
    action: z.string().max(100).optional(),
    subject: z.string().max(300).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  }),
};

// Moved below http/ so the gate's routes can use them without importing http/ (issue 12's
// layers); re-exported here for the routes in this folder.
export { parse, requireRole };

export function registerApiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const as = (...roles: Role[]) => ({ preHandler: requireRole(deps.auth, roles) });
  const readers: Role[] = ['requester', 'approver', 'admin', 'auditor'];

  app.post('/api/v1/exceptions', as('requester', 'admin'), async (req, reply) => {
    const body = parse(schemas.createException, req.body, 'request body');
    const main: ExceptionRequest = {
      ecosystem: body.ecosystem as never,
      name: body.name,
      versions: body.versions,
      view: body.view,
      reason: body.reason,
      ...(body.expires ? { expires: new Date(body.expires.length === 10 ? `${body.expires}T23:59:59.999Z` : body.expires) } : {}),
    };
    // A bundle: what the console's request form does when dependencies are ticked (createBundle: all or none).
    const asked = (body.dependencies ?? []).map((d) => ({
      ...main,
      name: d.name,
      versions: d.versions,
      reason: d.reason ?? `needed by ${main.name}: ${main.reason}`,
    }));
    const [rec, ...dependencies] = await deps.exceptions.createBundle(req.identity!, main, asked);
    return reply
      .code(201)
      .header('location', `/api/v1/exceptions/${rec!.id}`)
      .send(body.dependencies ? { ...rec, dependencies } : rec);
  });

  app.get('/api/v1/exceptions', as(...readers), async (req) => {
    const q = parse(schemas.listExceptions, req.query, 'query');
    return { exceptions: await deps.exceptions.list(q as never, req.identity!) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/exceptions/:id', as(...readers), async (req) =>
    deps.exceptions.get(parse(exceptionId, req.params.id, 'id'), req.identity!),
  );

  for (const [verb, roles] of [
    ['approve', ['approver', 'admin']],
    ['reject', ['approver', 'admin']],
    ['revoke', ['requester', 'approver', 'admin']],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/api/v1/exceptions/:id/${verb}`, as(...roles), async (req) => {
      const id = parse(exceptionId, req.params.id, 'id');
      const { note } = parse(schemas.decision, req.body, 'request body');
      return deps.exceptions[verb](req.identity!, id, note);
    });
  }

  const auditQuery = (input: unknown): AuditQuery => {
    const { since, until, ...rest } = parse(schemas.auditQuery, input, 'query');
    return { ...rest, ...(since ? { since: new Date(since) } : {}), ...(until ? { until: new Date(until) } : {}) } as AuditQuery;
  };

  app.get('/api/v1/audit', as('auditor', 'admin'), async (req) => ({ records: await deps.audit.query(auditQuery(req.query)) }));

  app.get('/api/v1/audit/export', as('auditor', 'admin'), async (req, reply) => {
    const { limit: _limit, ...q } = auditQuery(req.query);
    const { Readable } = await import('node:stream');
    return reply.type('application/jsonl').send(Readable.from(deps.audit.exportLines(q)));
  });

  app.get('/api/v1/audit/verify', as('auditor', 'admin'), async () => deps.audit.verify());

  app.get('/api/v1/demand', as('approver', 'admin', 'auditor'), async (req) => {
    const { limit } = parse(z.strictObject({ limit: z.coerce.number().int().min(1).max(500).optional() }), req.query, 'query');
    return { mostWanted: await mostWanted(deps.db, limit ?? 50, demandViews(deps.exceptions.scopeOf(req.identity!))) };
  });

  // Who downloaded a package version and which images the gate knows contain it; or, with
  // ?image=repo@sha256:…|repo:tag, who pulled that image through /v2 and the gate's verdicts (issue 15).
  app.get('/api/v1/incidents', as('auditor', 'admin'), async (req) => {
    const q = parse(incidentParams, req.query, 'query');
    return incidentOf(deps.db, deps.policies.policy, q, deps.images);
  });

  app.post('/api/v1/policy/reload', as('admin'), async (req) => {
    const p = await deps.policies.reload();
    await deps.db.notify('safelist_policy', 'reload');
    await deps.audit.append({
      actor: req.identity!.oid,
      action: 'policy.reload-requested',
      subject: p.fingerprint,
      detail: { rules: p.rules.length },
    });
    return { fingerprint: p.fingerprint, rules: p.rules.length };
  });

  app.get('/api/v1/openapi.json', async () => openApiDocument());
}

/** OpenAPI 3.1 for the management API, generated from the validation schemas above. */
export function openApiDocument(): Record<string, unknown> {
  const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const problem = { description: 'RFC 9457 problem details', content: { 'application/problem+json': { schema: { type: 'object' } } } };
  const secured = { security: [{ bearer: [] }], responses: { '401': problem, '403': problem, '400': problem } };
  const idParam = [{ name: 'id', in: 'path', required: true, schema: json(exceptionId) }];
  const queryParams = (s: z.ZodObject) =>
    Object.entries(s.shape).map(([name, t]) => ({ name, in: 'query', required: false, schema: json(t as z.ZodType) }));
  const decision = { requestBody: { content: { 'application/json': { schema: json(schemas.decision) } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Safelist management API', version: '1' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Microsoft Entra ID access token, or a static token from auth.tokens' },
      },
    },
    paths: {
      '/api/v1/exceptions': {
        post: {
          summary:
            'Request an exception (requester); with dependencies, one request for a package and the packages it needs (a bundle: all recorded or none, each decided on its own by someone other than the requester); 201 with the first, its dependencies under "dependencies"',
          ...secured,
          requestBody: { required: true, content: { 'application/json': { schema: json(schemas.createException) } } },
        },
        get: {
          summary:
            'List exceptions. With auth.packageRead token: those of the views the caller reads or approves, and its own requests (auditors, admins: all)',
          ...secured,
          parameters: queryParams(schemas.listExceptions),
        },
      },
      '/api/v1/console/sessions/{oid}': {
        delete: {
          summary: 'End every console session of an identity (admin; audited console.sessions-revoked); answers {oid, ended}',
          ...secured,
          parameters: [{ name: 'oid', in: 'path', required: true, schema: { type: 'string' } }],
        },
      },
      '/api/v1/exceptions/{id}': {
        get: {
          summary: 'Show one exception with its triage report; 404 for one the caller is not shown (as GET /api/v1/exceptions lists)',
          ...secured,
          parameters: idParam,
        },
      },
      '/api/v1/exceptions/{id}/approve': {
        post: {
          summary: 'Approve (an approver of its view other than the requester; admins for global)',
          ...secured,
          parameters: idParam,
          ...decision,
        },
      },
      '/api/v1/exceptions/{id}/reject': { post: { summary: 'Reject', ...secured, parameters: idParam, ...decision } },
      '/api/v1/exceptions/{id}/revoke': {
        post: { summary: 'Revoke an active exception, or withdraw your own request', ...secured, parameters: idParam, ...decision },
      },
      '/api/v1/audit': {
        get: { summary: 'Query the audit trail (auditor, admin)', ...secured, parameters: queryParams(schemas.auditQuery) },
      },
      '/api/v1/audit/export': { get: { summary: 'Export the audit trail as JSON Lines', ...secured } },
      '/api/v1/audit/verify': { get: { summary: 'Verify the hash chain and anchors', ...secured } },
      '/api/v1/demand': { get: { summary: 'Most wanted blocked packages', ...secured } },
      '/api/v1/incidents': {
        get: {
          summary:
            'Who downloaded a package version (name, version) and which images contain it; or who pulled an image (image=repo@sha256:…|repo:tag) and the gate verdicts of its digest (auditor, admin)',
          ...secured,
          parameters: queryParams(incidentParams),
        },
      },
      '/api/v1/policy/reload': { post: { summary: 'Reload policy files on every replica (admin)', ...secured } },
      '/api/v1/gate/webhooks/distribution': {
        post: {
          summary: 'Registry notification envelope (docker-registry; webhook role); acknowledged at once, judged asynchronously',
          ...secured,
        },
      },
      '/api/v1/gate/webhooks/acr': {
        post: { summary: 'ACR native webhook (push, ping, delete); authenticated by the configured shared-secret header' },
      },
      '/api/v1/gate/webhooks/eventgrid': {
        post: {
          summary:
            'ACR events through Event Grid (Event Grid schema or CloudEvents 1.0; subscription validation answered); authenticated by the ACR shared-secret header',
        },
        options: { summary: 'CloudEvents webhook abuse protection: WebHook-Request-Origin → WebHook-Allowed-Origin' },
      },
      '/api/v1/gate/reports/{digest}': { post: { summary: 'A Trivy JSON report for an image digest (pipeline, admin)', ...secured } },
      '/api/v1/gate/verdicts/{digest}': { get: { summary: 'The gate verdict of an image digest (pipeline, admin, auditor)', ...secured } },
      '/api/v1/gate/verdicts': { get: { summary: 'The gate verdict of ?image=[host/]repository:tag|@digest', ...secured } },
      '/api/v1/policy/check': {
        get: {
          summary: 'Is (ecosystem, name, version) allowed in a view? With auth.packageRead token: a token granted the view',
          security: [{}, { bearer: [] }],
          parameters: queryParams(schemas.policyCheck),
        },
      },
      '/api/v1/policy/why': {
        get: {
          summary: 'What allows or blocks a package, and how to request it. With auth.packageRead token: a token granted the view',
          security: [{}, { bearer: [] }],
          parameters: queryParams(schemas.policyWhy),
        },
      },
      '/api/v1/jobs/{name}': {
        post: {
          summary:
            'Run a job (sync, sync:pypi, import:conda, acr-import, publish, audit:anchor, audit:verify, …) in this server (admin; audit:verify also auditor; or the local token in the PGlite lock file); answers NDJSON: {"job","event"} lines, then {"job","outcome"}',
          ...secured,
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        },
      },
    },
  };
}
