// /v2/…: the read side of the OCI distribution API for mirrored images. Names are
// /v2/<registry>/<repository>/… (the default view) or /v2/views/<view>/<registry>/<repository>/….
// Every failure answers the spec's error JSON. Never serves a manifest or blob that is not
// reachable from a tag the view's policy allows, whatever reference or digest was asked for.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import { errors, ociErrors, SafelistError, isBlockedByPolicy } from '../../errors.js';
import type { OciCatalog } from './catalog.js';
import { checkDigest, digestHex, isTag, splitImageName } from './names.js';
import { DEFAULT_VIEW } from '../../policy/decide.js';
import type { PolicyStore } from '../../policy/store.js';
import type { BlobStore } from '../../storage/types.js';
import { sendBlob, servedBy, type ServedFile } from '../../serve/blob-response.js';
import { reasonPhrase } from '../../serve/reason.js';

export interface OciRouteDeps {
  catalog: OciCatalog;
  policies: PolicyStore;
  store: BlobStore;
  onBlocked?: (e: { view: string; name: string }) => void;
  /** A manifest or blob about to be sent (GET): for the download log; must return at once. */
  onServed?: (e: ServedFile & { kind: 'manifest' | 'blob' }) => void;
}

const API_VERSION = 'registry/2.0';
const OCI_CODES = new Set([
  'NAME_INVALID',
  'DIGEST_INVALID',
  'TAG_INVALID',
  'NAME_UNKNOWN',
  'MANIFEST_UNKNOWN',
  'BLOB_UNKNOWN',
  'DENIED',
  'UNSUPPORTED',
  'UNAUTHORIZED',
  'TOOMANYREQUESTS',
]);

export function isOciPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

/**
 * The view an OCI URL reads, as parsePath finds it (without its checks: those answer in the
 * handler): /v2/views/<view>/… or the default view; none for the /v2/ version check.
 */
export function ociViewOf(url: string): string | undefined {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path === '/v2' || path === '/v2/') return undefined;
  const rest = path.slice('/v2/'.length);
  if (rest !== 'views' && !rest.startsWith('views/')) return DEFAULT_VIEW;
  const end = rest.indexOf('/', 'views/'.length);
  return rest.slice('views/'.length, end < 0 ? undefined : end);
}

/** The spec's error body: {"errors":[{code,message,detail}]}, for every failure under /v2/. */
export function sendOciError(req: FastifyRequest, reply: FastifyReply, err: SafelistError): FastifyReply {
  const code = OCI_CODES.has(err.code)
    ? err.code
    : isBlockedByPolicy(err)
      ? 'DENIED'
      : err.status === 404
        ? 'NAME_UNKNOWN'
        : err.status === 416
          ? 'RANGE_INVALID'
          : err.status === 503
            ? 'UNAVAILABLE'
            : err.status === 401
              ? 'UNAUTHORIZED'
              : err.status === 403
                ? 'DENIED'
                : err.status >= 500
                  ? 'UNKNOWN'
                  : 'UNSUPPORTED';
  reply.raw.statusMessage = reasonPhrase(`${err.title} - ${err.message}`);
  reply
    .code(err.status)
    .header('content-type', 'application/json; charset=utf-8')
    .header('docker-distribution-api-version', API_VERSION)
    .header('cache-control', 'no-store');
  if (err.status === 503) reply.header('retry-after', '30');
  return reply.send(JSON.stringify({ errors: [{ code, message: err.message, detail: { requestId: String(req.id), ...err.extra } }] }));
}

type Target = { kind: 'manifests'; reference: string } | { kind: 'blobs'; digest: string } | { kind: 'tags' };

interface Parsed {
  view: string;
  /** The path prefix the client used before the name ('' or /views/<view>), for Link headers. */
  prefix: string;
  name: string;
  target: Target;
}

/** Parses the raw path (never a decoded one: %2F and %2E tricks are refused outright). */
function parsePath(rawUrl: string): Parsed {
  const path = rawUrl.split('?')[0]!;
  if (path.includes('%') || path.includes('//') || path.includes('\\')) {
    throw ociErrors.nameInvalid(
      'the path contains percent-encoding, an empty segment or a backslash; repository names are plain lower-case path segments',
    );
  }
  const segs = path.slice('/v2/'.length).split('/');
  let view = DEFAULT_VIEW;
  let prefix = '';
  if (segs[0] === 'views') {
    if (segs.length < 2 || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(segs[1]!))
      throw ociErrors.nameInvalid('expected /v2/views/<view>/<registry>/<repository>/…');
    view = segs[1]!;
    prefix = `/views/${view}`;
    segs.splice(0, 2);
  }
  let target: Target;
  let nameSegs: string[];
  if (segs.length >= 3 && segs.at(-2) === 'tags' && segs.at(-1) === 'list') {
    target = { kind: 'tags' };
    nameSegs = segs.slice(0, -2);
  } else if (segs.length >= 3 && segs.at(-2) === 'manifests') {
    const reference = segs.at(-1)!;
    if (reference.includes(':')) {
      const problem = checkDigest(reference);
      if (problem) throw ociErrors.digestInvalid(problem);
    } else if (!isTag(reference)) {
      throw ociErrors.tagInvalid(`"${reference.slice(0, 140)}" is not a tag: up to 128 letters, digits, _ . - (not starting with . or -)`);
    }
    target = { kind: 'manifests', reference };
    nameSegs = segs.slice(0, -2);
  } else if (segs.length >= 3 && segs.at(-2) === 'blobs') {
    const digest = segs.at(-1)!;
    const problem = checkDigest(digest);
    if (problem) throw ociErrors.digestInvalid(problem);
    target = { kind: 'blobs', digest };
    nameSegs = segs.slice(0, -2);
  } else {
    throw ociErrors.nameUnknown(
      `no such endpoint: ${path.slice(0, 300)}; Safelist serves /v2/<registry>/<repository>/manifests/<reference>, /blobs/<digest> and /tags/list`,
    );
  }
  const name = nameSegs.join('/');
  if (!splitImageName(name)) {
    throw ociErrors.nameInvalid(
      `"${name.slice(0, 300)}" is not a repository name here: expected <registry>/<repository> with lower-case letters, digits and . _ - separated by /`,
    );
  }
  return { view, prefix, name, target };
}

export function registerOciRoutes(app: FastifyInstance, deps: OciRouteDeps): void {
  const { catalog, policies, store } = deps;
  const manifestCache = new LRUCache<string, Buffer>({ maxSize: 64 * 1024 * 1024, sizeCalculation: (b) => b.length || 1 });

  const base = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.header('docker-distribution-api-version', API_VERSION).header('content-type', 'application/json').send('{}');
  app.route({ method: ['GET', 'HEAD'], url: '/v2/', handler: base });
  app.route({ method: ['GET', 'HEAD'], url: '/v2', handler: base });

  /** Refuses the request when the view does not exist or does not see the repository at all. */
  const checkRepository = (p: Parsed) => {
    const policy = policies.policy;
    if (!policy.hasView(p.view))
      throw ociErrors.nameUnknown(`view "${p.view}" does not exist; configured views: ${policy.viewNames().join(', ')}`);
    if (!policy.projectVisible('oci', p.name, p.view)) {
      deps.onBlocked?.({ view: p.view, name: p.name });
      const d = policy.decide({ ecosystem: 'oci', name: p.name, version: 'latest', view: p.view });
      throw ociErrors.denied(`repository ${d.reason}`, { name: p.name, view: p.view });
    }
    return policy;
  };

  const blocked = (p: Parsed, message: string) => {
    deps.onBlocked?.({ view: p.view, name: p.name });
    return ociErrors.denied(message, { name: p.name, view: p.view });
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const p = parsePath(req.url);
    const policy = checkRepository(p);
    const access = catalog.viewAccess(policy, p.name, p.view);
    const hint = policy.requestHint(p.name, p.view);
    reply.header('docker-distribution-api-version', API_VERSION);

    if (p.target.kind === 'tags') {
      const q = req.query as { n?: string; last?: string };
      let tags = access.tags.map(([t]) => t);
      if (typeof q.last === 'string') tags = tags.filter((t) => t > q.last!);
      let n: number | undefined;
      if (q.n !== undefined) {
        n = Number(q.n);
        if (!Number.isInteger(n) || n < 0) throw errors.badRequest(`n must be a non-negative integer, got "${String(q.n)}"`);
      }
      if (n !== undefined && tags.length > n) {
        tags = tags.slice(0, n);
        if (n > 0) reply.header('link', `</v2${p.prefix}/${p.name}/tags/list?n=${n}&last=${encodeURIComponent(tags.at(-1)!)}>; rel="next"`);
      }
      return reply
        .header('content-type', 'application/json')
        .header('cache-control', 'no-cache')
        .send(JSON.stringify({ name: p.name, tags }));
    }

    if (p.target.kind === 'manifests') {
      const ref = p.target.reference;
      let digest: string;
      if (ref.startsWith('sha256:')) {
        digest = ref;
        if (!access.manifests.has(digest)) {
          if (catalog.image(p.name)?.manifests.has(digest)) {
            throw blocked(
              p,
              `${p.name}@${digest} is blocked by Safelist policy in view ${p.view}: it does not belong to an allowed tag of this repository; ${hint}`,
            );
          }
          if (access.blobs.has(digest)) throw ociErrors.manifestUnknown(`${digest} is a blob of ${p.name}, not a manifest`);
          throw blocked(
            p,
            `${p.name}@${digest} is blocked by Safelist policy in view ${p.view}: no allowed tag of this repository has that digest; ${hint}`,
          );
        }
      } else {
        const tagDigest = catalog.tagDigest(p.name, ref);
        const d = policy.decide({
          ecosystem: 'oci',
          name: p.name,
          version: ref,
          view: p.view,
          ...(tagDigest ? { digest: tagDigest } : {}),
        });
        if (!tagDigest) {
          // An allowed tag without a digest is allowed unless its rule pins digests.
          const wouldAllow = policy.activeRules('oci', p.name, p.view).some((r) => r.matcher.matches(ref));
          if (wouldAllow)
            throw ociErrors.manifestUnknown(
              `${p.name}:${ref} is allowed in view ${p.view} but not mirrored yet (it may not exist upstream, or the next sync will fetch it)`,
            );
          throw blocked(p, d.reason);
        }
        if (!d.allowed) throw blocked(p, d.reason);
        digest = tagDigest;
      }
      const record = catalog.image(p.name)?.manifests.get(digest);
      // A tag can reach this replica's catalog before the manifest it names (a reload between the
      // two writes): refuse for now, never answer without the record.
      if (!record) throw errors.unavailable(`${p.name}@${digest} is not loaded in this replica's catalog yet; retry shortly`);
      reply
        .header('content-type', record.mediaType)
        .header('docker-content-digest', digest)
        .header('etag', `"${digest}"`)
        .header('content-length', String(record.size))
        .header('cache-control', ref.startsWith('sha256:') ? 'public, max-age=31536000, immutable' : 'no-cache');
      const inm = req.headers['if-none-match'];
      if (inm && inm.split(',').some((t) => t.trim() === `"${digest}"`)) return reply.code(304).send();
      if (req.method === 'HEAD') return reply.send();
      // version: the tag asked for, or the digest when pulled by digest.
      deps.onServed?.({ ...servedBy(req, p.view, p.name, ref), sha256: digestHex(digest), kind: 'manifest' });
      let bytes = manifestCache.get(digest);
      if (!bytes) {
        const chunks: Buffer[] = [];
        try {
          for await (const c of await store.get(blobKeyForSha256(digestHex(digest)))) chunks.push(c as Buffer);
        } catch (err) {
          throw errors.unavailable(
            `manifest ${digest} of ${p.name} is recorded but could not be read from storage (${(err as Error).message}); an operator must re-sync it`,
          );
        }
        bytes = Buffer.concat(chunks);
        if (bytes.length !== record.size)
          throw errors.unavailable(
            `manifest ${digest} of ${p.name} does not have its recorded size in storage; an operator must re-sync it`,
          );
        manifestCache.set(digest, bytes);
      }
      return reply.send(bytes);
    }

    const digest = p.target.digest;
    const size = access.blobs.get(digest);
    if (size === undefined) {
      const known = [...(catalog.image(p.name)?.refs.values() ?? [])].some((refs) => refs.some((r) => r.child === digest));
      if (!known && !access.manifests.has(digest)) {
        throw blocked(
          p,
          `${p.name}@${digest} is blocked by Safelist policy in view ${p.view}: it is not part of an allowed image of this repository; ${hint}`,
        );
      }
      if (access.manifests.has(digest)) throw ociErrors.blobUnknown(`${digest} is a manifest of ${p.name}; fetch it from /manifests/`);
      throw blocked(
        p,
        `${p.name}@${digest} is blocked by Safelist policy in view ${p.view}: it belongs only to images that are not allowed; ${hint}`,
      );
    }
    reply.header('docker-content-digest', digest);
    if (req.method === 'GET') deps.onServed?.({ ...servedBy(req, p.view, p.name, digest), sha256: digestHex(digest), kind: 'blob' });
    return sendBlob(store, req, reply, {
      key: blobKeyForSha256(digestHex(digest)),
      size,
      etag: `"${digest}"`,
      contentType: 'application/octet-stream',
    });
  };

  app.route({ method: ['GET', 'HEAD'], url: '/v2/*', handler });
  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: async () => {
      throw ociErrors.unsupported(
        'Safelist is a read-only mirror; push images to your own registry, and ask for new base images through an exception',
      );
    },
  });
}
