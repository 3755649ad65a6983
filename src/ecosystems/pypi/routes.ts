// /pypi/{view}/…: the simple index (HTML and JSON) and the files behind it. Thin: every
// decision is made by PypiIndex; this file only speaks HTTP. Never serves a file or a
// .metadata that the view's policy refuses, whatever URL was used to reach it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { blobKeyForSha256, isSha256 } from '../../catalog/blob-keys.js';
import { errors, isBlockedByPolicy, isRefusal } from '../../errors.js';
import { gzipOf, type PypiIndex, type RenderedDocument } from './index.js';
import { isSafeFilename, normalizeProjectName } from './names.js';
import type { BlobStore } from '../../storage/types.js';
import { sendBlob, servedBy, type ServedFile } from '../../serve/blob-response.js';
import { negotiateIndexFormat, OFFERED_TYPES } from './negotiate.js';

export interface PypiRouteDeps {
  index: PypiIndex;
  store: BlobStore;
  /** Called for every file or metadata response that starts streaming (metrics, tests). */
  /** A file about to be sent (GET): for the download log; must return at once. */
  onServed?: (e: ServedFile & { filename: string; metadata: boolean }) => void;
  /** Called for every refusal (demand insight). */
  onBlocked?: (e: { view: string; name: string }) => void;
}

type Params = { view: string; project?: string; sha256?: string; filename?: string };

function sendDocument(req: FastifyRequest, reply: FastifyReply, doc: RenderedDocument, contentType: string): FastifyReply {
  reply
    .header('content-type', contentType)
    .header('etag', doc.etag)
    .header('cache-control', 'no-cache')
    .header('vary', 'Accept, Accept-Encoding');
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === doc.etag)) return reply.code(304).send();
  const ae = req.headers['accept-encoding'];
  if (ae !== undefined && ae.includes('gzip')) {
    const gz = gzipOf(doc);
    if (gz) return reply.header('content-encoding', 'gzip').send(gz);
  }
  return reply.send(doc.body);
}

function negotiate(req: FastifyRequest) {
  const q = req.query as { format?: string };
  const n = negotiateIndexFormat(req.headers.accept, typeof q.format === 'string' ? q.format : undefined);
  if (!n) throw errors.notAcceptable(OFFERED_TYPES);
  return n;
}

export function registerPypiRoutes(app: FastifyInstance, deps: PypiRouteDeps): void {
  const { index, store } = deps;

  app.get<{ Params: Params }>('/pypi/:view/simple/', async (req, reply) => {
    const n = negotiate(req);
    return sendDocument(req, reply, index.rootPage(req.params.view, n.format), n.contentType);
  });

  app.get<{ Params: Params }>('/pypi/:view/simple', async (req, reply) =>
    reply.redirect(`/pypi/${encodeURIComponent(req.params.view)}/simple/`, 301),
  );

  // Synchronous on purpose (a cached page is answered without a promise); fastify sends what it throws as an error.
  const projectPage = (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, slash: boolean): void => {
    const { view } = req.params;
    const raw = req.params.project!;
    const n = negotiate(req);
    let doc: RenderedDocument;
    try {
      doc = index.projectPage(view, raw, n.format);
    } catch (err) {
      if (isRefusal(err)) deps.onBlocked?.({ view, name: normalizeProjectName(raw) });
      throw err;
    }
    // The page knows its project's canonical name: no normalisation per request.
    const canonical = doc.name ?? normalizeProjectName(raw);
    if (!slash || canonical !== raw) {
      reply.redirect(
        `/pypi/${encodeURIComponent(view)}/simple/${encodeURIComponent(canonical)}/${req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''}`,
        301,
      );
      return;
    }
    // A PEP 792 quarantine page is a refusal too (demand insight), though it answers 200.
    if (doc.refused) deps.onBlocked?.({ view, name: canonical });
    sendDocument(req, reply, doc, n.contentType);
  };
  app.get<{ Params: Params }>('/pypi/:view/simple/:project/', (req, reply) => projectPage(req, reply, true));
  app.get<{ Params: Params }>('/pypi/:view/simple/:project', (req, reply) => projectPage(req, reply, false));

  // GET and HEAD declared together: fastify's automatic HEAD route would replace the
  // Content-Length of an empty HEAD reply with 0.
  app.route<{ Params: Params }>({
    method: ['GET', 'HEAD'],
    url: '/pypi/:view/files/:sha256/:filename',
    handler: async (req, reply) => {
      const { view, sha256 } = req.params;
      let filename = req.params.filename!;
      const metadata = filename.endsWith('.metadata');
      if (metadata) filename = filename.slice(0, -'.metadata'.length);
      if (!isSha256(sha256!)) throw errors.badRequest('file URLs are /pypi/{view}/files/{sha256 as 64 lower-case hex}/{filename}');
      if (!isSafeFilename(filename)) throw errors.badRequest(`"${filename}" is not a distribution file name`);
      let file;
      try {
        file = index.authorizeFile(view, sha256!, filename);
      } catch (err) {
        if (isBlockedByPolicy(err)) deps.onBlocked?.({ view, name: index.nameOfFile(sha256!) ?? filename });
        throw err;
      }
      if (metadata) {
        if (!file.metadataSha256 || !file.metadataStored) throw errors.notFound(`${filename} has no core metadata file in this index`);
        if (req.method === 'GET')
          deps.onServed?.({ ...servedBy(req, view, file.project, file.version), sha256: sha256!, filename, metadata: true });
        return sendBlob(store, req, reply, {
          key: blobKeyForSha256(file.metadataSha256),
          size: await metadataSize(store, file.metadataSha256),
          etag: `"${file.metadataSha256}"`,
          contentType: 'application/octet-stream',
          filename: `${filename}.metadata`,
        });
      }
      if (req.method === 'GET')
        deps.onServed?.({ ...servedBy(req, view, file.project, file.version), sha256: sha256!, filename, metadata: false });
      return sendBlob(store, req, reply, {
        key: blobKeyForSha256(file.sha256),
        size: file.size,
        etag: `"${file.sha256}"`,
        contentType: 'application/octet-stream',
        filename,
      });
    },
  });
}

const metadataSizes = new Map<string, number>();
async function metadataSize(store: BlobStore, sha: string): Promise<number> {
  let size = metadataSizes.get(sha);
  if (size === undefined) {
    const info = await store.stat(blobKeyForSha256(sha));
    if (!info) throw errors.unavailable('the core metadata file is recorded but missing from storage; an operator must re-sync it');
    size = info.size;
    if (metadataSizes.size > 100_000) metadataSizes.clear();
    metadataSizes.set(sha, size);
  }
  return size;
}
