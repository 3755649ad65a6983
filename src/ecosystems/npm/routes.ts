// /npm/{view}/…: packuments (full and abbreviated by Accept) and tarballs, scoped names as npm
// sends them (@scope%2fname) and as people type them (@scope/name). Thin: every decision is made
// by NpmIndex; this file only speaks HTTP, in npm's dialect: an error is {"error": "..."}, which
// npm prints after the status. Never serves a tarball the view's policy refuses, whatever URL was
// used to reach it, and adds no per-request hook to the hot path.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, isBlockedByPolicy, isRefusal, SafelistError } from '../../errors.js';
import { blobKeyForSha512 } from './integrity.js';
import { gzipOfPackument, type NpmIndex } from './index.js';
import type { NpmVersion } from './catalog.js';
import { normalizeNpmName } from './names.js';

export const NPM_ABBREVIATED = 'application/vnd.npm.install-v1+json';

/** What a route needs to stream a stored tarball (http/blob-response.ts sendBlob, bound to the store). */
export type SendTarball = (
  req: FastifyRequest,
  reply: FastifyReply,
  file: { key: string; size: number; etag: string; contentType: string; filename: string },
) => Promise<FastifyReply>;

export interface NpmRouteDeps {
  index: NpmIndex;
  sendFile: SendTarball;
  /** The origin tarball URLs start with (server.publicUrl or the listening address), without a trailing slash. */
  origin: () => string;
  /** A tarball about to be sent (GET): for the download log; must return at once. */
  onServed?: (req: FastifyRequest, view: string, v: NpmVersion) => void;
  onBlocked?: (e: { view: string; name: string }) => void;
}

type Params = { view: string; scope?: string; pkg: string; file?: string };

/** npm's own error body: {"error": "..."}; a 503 says when to come back. */
export function sendNpmError(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof SafelistError)) throw err; // the app's handler maps and logs it
  reply.code(err.status).header('content-type', 'application/json').header('cache-control', 'no-store');
  if (err.status === 503) reply.header('retry-after', '30');
  return reply.send(JSON.stringify({ error: err.message }));
}

/** @scope/name from the path: one segment (@scope%2fname, decoded by the router) or two. */
function packageName(p: Params): string {
  if (p.scope === undefined) return p.pkg;
  if (!p.scope.startsWith('@')) throw errors.notFound(`no such npm resource: "${p.scope}/${p.pkg}" is not a scoped package name`);
  return `${p.scope}/${p.pkg}`;
}

/** The base tarball URLs carry: the origin, plus the /t/<token>/ prefix the request came through. */
function baseOf(req: FastifyRequest, origin: string): string {
  const token = (req.raw as { safelistPathToken?: string }).safelistPathToken;
  return token === undefined ? origin : `${origin}/t/${token}`;
}

function sendPackument(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, deps: NpmRouteDeps): FastifyReply {
  const accept = req.headers.accept ?? '';
  const abbreviated = accept.includes(NPM_ABBREVIATED);
  const doc = deps.index.packument(
    req.params.view,
    packageName(req.params),
    abbreviated ? 'abbreviated' : 'full',
    baseOf(req, deps.origin()),
  );
  reply
    .header('content-type', abbreviated ? NPM_ABBREVIATED : 'application/json')
    .header('etag', doc.etag)
    .header('cache-control', 'no-cache')
    .header('vary', 'Accept, Accept-Encoding');
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === doc.etag)) return reply.code(304).send();
  const gz = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '') ? gzipOfPackument(doc) : undefined;
  const body = gz ?? doc.body;
  if (gz) reply.header('content-encoding', 'gzip');
  reply.header('content-length', String(body.length));
  return reply.send(req.method === 'HEAD' ? undefined : body);
}

async function sendTarball(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, deps: NpmRouteDeps): Promise<FastifyReply> {
  const { view, file } = req.params;
  const name = packageName(req.params);
  const v = deps.index.authorizeTarball(view, name, file!);
  if (req.method === 'GET') deps.onServed?.(req, view, v);
  return deps.sendFile(req, reply, {
    key: blobKeyForSha512(v.sha512!),
    size: v.size!,
    etag: `"${v.sha512!}"`,
    contentType: 'application/octet-stream',
    filename: file!,
  });
}

/** Who asked for a name the view refuses (demand insight): a packument refused or missing, a tarball the policy blocks. */
function demandOf(err: unknown, req: FastifyRequest<{ Params: Params }>, packument: boolean): string | undefined {
  if (isBlockedByPolicy(err) && typeof err.extra.package === 'string') return err.extra.package;
  if (!packument || !isRefusal(err)) return undefined;
  const { scope, pkg } = req.params;
  if (scope === undefined) return normalizeNpmName(pkg);
  // Two segments without a scope are no package name (npm's other endpoints, /-/whoami): no demand for anything.
  return scope.startsWith('@') ? normalizeNpmName(`${scope}/${pkg}`) : undefined;
}

type Handler = (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, deps: NpmRouteDeps) => FastifyReply | Promise<FastifyReply>;

export function registerNpmRoutes(app: FastifyInstance, deps: NpmRouteDeps): void {
  // A refusal in npm's dialect, counted for demand insight like PyPI's (a missing packument is a miss too).
  const guarded = (fn: Handler) => async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    try {
      return await fn(req, reply, deps);
    } catch (err) {
      const name = demandOf(err, req, fn === sendPackument);
      if (name !== undefined) deps.onBlocked?.({ view: req.params.view, name });
      return sendNpmError(reply, err);
    }
  };
  // GET and HEAD together: fastify's automatic HEAD would replace an empty reply's Content-Length with 0.
  const method: ['GET', 'HEAD'] = ['GET', 'HEAD'];
  // `npm ping` asks the registry whether it answers; a view that does not exist does not.
  app.get<{ Params: { view: string } }>('/npm/:view/-/ping', async (req, reply) => {
    try {
      deps.index.requireView(req.params.view);
    } catch (err) {
      return sendNpmError(reply, err);
    }
    return reply.header('content-type', 'application/json').send('{}');
  });
  app.route<{ Params: Params }>({ method, url: '/npm/:view/:pkg', handler: guarded(sendPackument) });
  app.route<{ Params: Params }>({ method, url: '/npm/:view/:scope/:pkg', handler: guarded(sendPackument) });
  app.route<{ Params: Params }>({ method, url: '/npm/:view/:pkg/-/:file', handler: guarded(sendTarball) });
  app.route<{ Params: Params }>({ method, url: '/npm/:view/:scope/:pkg/-/:file', handler: guarded(sendTarball) });
}
