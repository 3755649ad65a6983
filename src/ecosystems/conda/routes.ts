// /conda/{view}/{channel}/…: repodata.json (and repodata.json.zst), CEP 16 sharded repodata,
// channeldata.json and package files of curated channels. Thin: every decision is made by
// CondaIndex; this file only speaks HTTP. Never serves a file the view's policy refuses, whatever
// URL was used to reach it.
//
// repodata.json.zst is the same document as repodata.json, zstd-compressed (Node 24's zlib):
// conda asks for it first (conda/gateways/repodata/zstd.py), mamba after a HEAD that answers 200
// (libmamba subdirdata.cpp), rattler/pixi when repodata_shards.msgpack.zst is 404 (js-rattler,
// test/e2e/conda-solve.test.ts). It is its own resource with its own strong ETag.
// repodata_shards.msgpack.zst and shards/<sha256>.msgpack.zst (CEP 16) answer when CondaIndex has a
// msgpack encoder (runtime.ts gives it @msgpack/msgpack's); js-rattler then reads them and never
// falls back (test/e2e/conda-solve.test.ts). Without one they are 404 like .bz2, .jlap and
// current_repodata.json, and every client falls back on that 4xx.
// Plain repodata.json is also served with gzip Content-Encoding to every client that accepts it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import { errors, isBlockedByPolicy } from '../../errors.js';
import { gzipOfDocument, isCondaSubdir, zstOfDocument, type CondaDocument, type CondaIndex } from './index.js';
import type { Shard, ShardSet } from './shards.js';
import type { BlobStore } from '../../storage/types.js';
import { sendBlob, servedBy, type ServedFile } from '../../serve/blob-response.js';

export interface CondaRouteDeps {
  index: CondaIndex;
  store: BlobStore;
  /** A package file about to be sent (GET): for the download log; must return at once. */
  onServed?: (e: ServedFile & { filename: string }) => void;
  onBlocked?: (e: { view: string; name: string }) => void;
  /** Offer gzip Content-Encoding for documents (conda.gzip). */
  gzip?: boolean;
}

type Params = { view: string; channel: string; subdir?: string; filename?: string };

/** Repodata variants Safelist does not produce; clients fall back to repodata.json on a 404. */
const NOT_OFFERED = new Set([
  'repodata.json.bz2',
  'repodata.jlap',
  'repodata_shards.msgpack.zst',
  'current_repodata.json',
  'current_repodata.json.zst',
  'current_repodata.json.bz2',
  'repodata_from_packages.json',
]);

const PACKAGE_FILE = /^[A-Za-z0-9_.+-]+-[^-/\\]+-[^-/\\]+\.(conda|tar\.bz2)$/;

function sendDocument(req: FastifyRequest, reply: FastifyReply, doc: CondaDocument, offerGzip: boolean): FastifyReply {
  reply.header('content-type', 'application/json').header('cache-control', 'no-cache').header('vary', 'Accept-Encoding');
  const inm = req.headers['if-none-match'];
  const ae = req.headers['accept-encoding'];
  const gz = offerGzip && ae !== undefined && /\bgzip\b/.test(ae) ? gzipOfDocument(doc) : undefined;
  reply.header('etag', gz ? doc.gzipEtag : doc.etag);
  // Either representation's tag proves the client holds the current document.
  if (matchesAny(inm, [doc.etag, doc.gzipEtag])) return reply.code(304).send();
  if (gz) {
    reply.header('content-encoding', 'gzip').header('content-length', String(gz.length));
    return reply.send(req.method === 'HEAD' ? undefined : gz);
  }
  reply.header('content-length', String(doc.body.length));
  return reply.send(req.method === 'HEAD' ? undefined : doc.body);
}

/** True when one of the If-None-Match tags is one of `tags` (or `*`); weak tags compare by value. */
function matchesAny(inm: string | undefined, tags: readonly string[]): boolean {
  if (inm === undefined) return false;
  return inm.split(',').some((t) => {
    const s = t.trim().replace(/^W\//, '');
    return s === '*' || tags.includes(s);
  });
}

/** repodata.json.zst: the document's bytes zstd-compressed, a resource with its own ETag. */
function sendZstDocument(req: FastifyRequest, reply: FastifyReply, doc: CondaDocument): FastifyReply {
  reply.header('content-type', 'application/zstd').header('cache-control', 'no-cache').header('etag', doc.zstEtag);
  if (matchesAny(req.headers['if-none-match'], [doc.zstEtag])) return reply.code(304).send();
  const zst = zstOfDocument(doc);
  reply.header('content-length', String(zst.length));
  return reply.send(req.method === 'HEAD' ? undefined : zst);
}

/** repodata_shards.msgpack.zst: revalidated on every use (no-cache), like repodata.json. */
function sendShardIndex(req: FastifyRequest, reply: FastifyReply, set: ShardSet): FastifyReply {
  reply.header('content-type', 'application/octet-stream').header('cache-control', 'no-cache').header('etag', set.etag);
  if (matchesAny(req.headers['if-none-match'], [set.etag])) return reply.code(304).send();
  reply.header('content-length', String(set.index.length));
  return reply.send(req.method === 'HEAD' ? undefined : set.index);
}

/** shards/<sha256>.msgpack.zst: content-addressed, so immutable (CEP 16); the policy was checked first. */
function sendShard(req: FastifyRequest, reply: FastifyReply, hex: string, shard: Shard): FastifyReply {
  const etag = `"${hex}"`;
  reply
    .header('content-type', 'application/octet-stream')
    .header('cache-control', 'public, max-age=31536000, immutable')
    .header('etag', etag);
  if (matchesAny(req.headers['if-none-match'], [etag])) return reply.code(304).send();
  reply.header('content-length', String(shard.body.length));
  return reply.send(req.method === 'HEAD' ? undefined : shard.body);
}

const SHARD_FILE = /^([0-9a-f]{64})\.msgpack\.zst$/;

function registerShardRoutes(app: FastifyInstance, deps: CondaRouteDeps): void {
  const { index } = deps;
  app.route<{ Params: Required<Params> }>({
    method: ['GET', 'HEAD'],
    url: '/conda/:view/:channel/:subdir/shards/:filename',
    handler: async (req, reply) => {
      const { view, channel, subdir, filename } = req.params;
      const m = SHARD_FILE.exec(filename);
      if (!m) {
        index.shardSet(view, channel, subdir); // unknown view, channel or subdir first, as for every URL
        throw errors.notFound(`"${filename}" is not a shard name (64 lower-case hex digits of its sha256, then .msgpack.zst)`);
      }
      try {
        return sendShard(req, reply, m[1]!, index.authorizeShard(view, channel, subdir, m[1]!));
      } catch (err) {
        if (isBlockedByPolicy(err)) deps.onBlocked?.({ view, name: String(err.extra.package) });
        throw err;
      }
    },
  });
}

export function registerCondaRoutes(app: FastifyInstance, deps: CondaRouteDeps): void {
  const { index, store } = deps;
  const gzip = deps.gzip ?? true;
  registerShardRoutes(app, deps);

  app.route<{ Params: Params }>({
    method: ['GET', 'HEAD'],
    url: '/conda/:view/:channel/channeldata.json',
    handler: async (req, reply) => sendDocument(req, reply, index.channeldata(req.params.view, req.params.channel), gzip),
  });

  app.route<{ Params: Params }>({
    method: ['GET', 'HEAD'],
    url: '/conda/:view/:channel/:subdir/:filename',
    handler: async (req, reply) => {
      const { view, channel, subdir, filename } = req.params as Required<Params>;
      if (filename === 'repodata.json') return sendDocument(req, reply, index.repodata(view, channel, subdir), gzip);
      if (filename === 'repodata.json.zst') return sendZstDocument(req, reply, index.repodata(view, channel, subdir));
      if (filename === 'repodata_shards.msgpack.zst' && index.offersShards)
        return sendShardIndex(req, reply, index.shardSet(view, channel, subdir));
      index.requireView(view);
      index.channel(channel);
      if (!isCondaSubdir(subdir)) throw errors.notFound(`"${subdir}" is not a conda subdir (e.g. noarch, linux-64, osx-arm64, win-64)`);
      if (NOT_OFFERED.has(filename))
        throw errors.notFound(`${filename} is not offered by Safelist; use repodata.json (conda, mamba and pixi fall back to it)`);
      if (!PACKAGE_FILE.test(filename))
        throw errors.notFound(`"${filename}" is not a conda package file name (name-version-build.conda or .tar.bz2)`);
      let p;
      try {
        p = index.authorizeFile(view, channel, subdir, filename);
      } catch (err) {
        if (isBlockedByPolicy(err))
          deps.onBlocked?.({ view, name: filename.slice(0, filename.lastIndexOf('-', filename.lastIndexOf('-') - 1)) });
        throw err;
      }
      if (req.method === 'GET') deps.onServed?.({ ...servedBy(req, view, p.name, p.version), sha256: p.sha256, filename });
      return sendBlob(store, req, reply, {
        key: blobKeyForSha256(p.sha256),
        size: p.size,
        etag: `"${p.sha256}"`,
        contentType: 'application/octet-stream',
        filename,
      });
    },
  });
}
