// /conda/{view}/{channel}/…: repodata.json, channeldata.json and package files of curated
// channels. Thin: every decision is made by CondaIndex; this file only speaks HTTP. Never
// serves a file the view's policy refuses, whatever URL was used to reach it.
//
// Compressed and incremental repodata variants are answered 404 on purpose: conda tries
// repodata.json.zst and falls back to repodata.json on any 4xx but 416 (conda/gateways/repodata/
// zstd.py); rattler/pixi probe .zst, .bz2 and .jlap with HEAD and use plain repodata.json when
// none answers 2xx (rattler_repodata_gateway fetch::check_variant_availability), and take
// sharded repodata only where repodata_shards.msgpack.zst exists (js-rattler asks for it first);
// mamba sends HEAD repodata.json.zst and uses .zst only on a 200, ignoring failures
// (libmamba subdirdata.cpp, check_targets / finalize_check). Plain repodata.json is served with gzip Content-Encoding to every client that accepts
// it (all of them), which is what keeps the transfer small without a zstd encoder in Node 20.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { blobKeyForSha256 } from '../catalog/blob-keys.js';
import { errors } from '../errors.js';
import { gzipOfDocument, isCondaSubdir, type CondaDocument, type CondaIndex } from '../ecosystems/conda/index.js';
import type { BlobStore } from '../storage/types.js';
import { sendBlob } from './blob-response.js';

export interface CondaRouteDeps {
  index: CondaIndex;
  store: BlobStore;
  onServed?: (e: { view: string; sha256: string; filename: string }) => void;
  onBlocked?: (e: { view: string; name: string }) => void;
  /** Offer gzip Content-Encoding for documents (conda.gzip). */
  gzip?: boolean;
}

type Params = { view: string; channel: string; subdir?: string; filename?: string };

/** Repodata variants Safelist does not produce; clients fall back to repodata.json on a 404. */
const NOT_OFFERED = new Set([
  'repodata.json.zst',
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
  if (inm !== undefined && inm.split(',').some((t) => { const s = t.trim().replace(/^W\//, ''); return s === doc.etag || s === doc.gzipEtag || s === '*'; })) {
    return reply.code(304).send();
  }
  if (gz) {
    reply.header('content-encoding', 'gzip').header('content-length', String(gz.length));
    return reply.send(req.method === 'HEAD' ? undefined : gz);
  }
  reply.header('content-length', String(doc.body.length));
  return reply.send(req.method === 'HEAD' ? undefined : doc.body);
}

export function registerCondaRoutes(app: FastifyInstance, deps: CondaRouteDeps): void {
  const { index, store } = deps;
  const gzip = deps.gzip ?? true;

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
      index.requireView(view);
      index.channel(channel);
      if (!isCondaSubdir(subdir)) throw errors.notFound(`"${subdir}" is not a conda subdir (e.g. noarch, linux-64, osx-arm64, win-64)`);
      if (NOT_OFFERED.has(filename)) throw errors.notFound(`${filename} is not offered by Safelist; use repodata.json (conda, mamba and pixi fall back to it)`);
      if (!PACKAGE_FILE.test(filename)) throw errors.notFound(`"${filename}" is not a conda package file name (name-version-build.conda or .tar.bz2)`);
      let p;
      try {
        p = index.authorizeFile(view, channel, subdir, filename);
      } catch (err) {
        if ((err as { code?: string }).code === 'BLOCKED_BY_POLICY') deps.onBlocked?.({ view, name: filename.slice(0, filename.lastIndexOf('-', filename.lastIndexOf('-') - 1)) });
        throw err;
      }
      if (req.method === 'GET') deps.onServed?.({ view, sha256: p.sha256, filename });
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
