// Streams a stored, content-addressed object to a client: strong ETag (its digest), 304,
// single byte ranges with If-Range, HEAD, immutable caching, and never a Content-Encoding
// (installers verify the exact bytes). Shared by every ecosystem's file route.
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { errors } from '../errors.js';
import { BlobNotFound, type BlobStore } from '../storage/types.js';

export interface BlobResponse {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  /** Served as a download name. */
  filename?: string;
}

export async function sendBlob(store: BlobStore, req: FastifyRequest, reply: FastifyReply, b: BlobResponse): Promise<FastifyReply> {
  reply
    .header('etag', b.etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'public, max-age=31536000, immutable')
    .header('content-type', b.contentType);
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === b.etag || t.trim() === '*')) {
    return reply.code(304).send();
  }
  let start = 0;
  let end = b.size - 1;
  let partial = false;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (rangeHeader && (!ifRange || ifRange === b.etag)) {
    const r = parseRange(b.size, rangeHeader, { combine: true });
    if (r === -1) {
      reply.header('content-range', `bytes */${b.size}`);
      throw errors.rangeNotSatisfiable(b.size);
    }
    // Malformed ranges (-2) and multi-range requests get the whole file, as RFC 9110 allows.
    if (Array.isArray(r) && r.type === 'bytes' && r.length === 1) {
      start = r[0]!.start;
      end = r[0]!.end;
      partial = true;
    }
  }
  // Large whole-file GETs can go straight to the blob store (a short-lived SAS URL).
  if (!partial && req.method === 'GET' && store.directUrl) {
    const url = await store.directUrl(b.key, b.size).catch(() => undefined);
    if (url) return reply.code(302).header('location', url).header('cache-control', 'private, no-store').send();
  }
    const length = b.size === 0 ? 0 : end - start + 1;
  reply.header('content-length', String(length));
  if (partial) reply.code(206).header('content-range', `bytes ${start}-${end}/${b.size}`);
  if (req.method === 'HEAD' || length === 0) return reply.send();
  let stream;
  try {
    stream = await store.get(b.key, partial ? { start, end } : undefined);
  } catch (err) {
    if (err instanceof BlobNotFound) throw errors.unavailable(`${b.filename ?? b.key} is recorded but its bytes are missing from storage; an operator must re-sync it`);
    throw errors.unavailable(`storage is unreachable: ${(err as Error).message}`);
  }
  // pipeline (not pipe): a client that goes away destroys the stored object's stream too,
  // so its file descriptor or storage connection is released at once, not at GC.
  const checked = new ExactLength(length, () => {
    req.log.error({ key: b.key, expected: length }, 'stored object does not have its recorded size; the response was cut off');
  });
  return reply.send(pipeline(stream, checked, () => undefined));
}

/**
 * Passes bytes through and fails the response when the stored object is shorter or longer
 * than recorded: a client then sees a broken download at once, instead of waiting for bytes
 * that never come (Content-Length was already sent) or receiving a silently wrong file.
 */
class ExactLength extends Transform {
  private seen = 0;
  constructor(private readonly expected: number, private readonly onMismatch: () => void) {
    // Buffers sized like the store's reads, so a large chunk is not held back by backpressure.
    super({ highWaterMark: 4 * 1024 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected) {
      this.onMismatch();
      return cb(new Error('stored object is longer than recorded'));
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.expected) {
      this.onMismatch();
      return cb(new Error('stored object is shorter than recorded'));
    }
    cb();
  }
}
