// Streams a stored, content-addressed object to a client: strong ETag (its digest), 304,
// single byte ranges with If-Range, HEAD, immutable caching, and never a Content-Encoding
// (installers verify the exact bytes). Shared by every ecosystem's file route. Stores that read
// locally are served from reused buffers; others are streamed. Never completes a response
// whose stored object does not have its recorded size.
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { errors } from '../errors.js';
import { BlobNotFound, type BlobReader, type BlobStore } from '../storage/types.js';

export interface BlobResponse {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  /** Served as a download name. */
  filename?: string;
}

/** What the file routes tell the download log about a file they serve (GET). */
export interface ServedFile {
  view: string;
  name: string;
  version: string;
  sha256: string;
  /** The client's address as the socket (or a trusted proxy) gives it. */
  client: string;
  /** The token's identity when package reads are authenticated (app.ts sets req.identity); else null. */
  identity: { oid: string; name: string } | null;
}

/** The request's part of a ServedFile: view, client address, identity. */
export function servedBy(req: FastifyRequest, view: string, name: string, version: string): Omit<ServedFile, 'sha256'> {
  const who = req.identity;
  return { view, name, version, client: req.ip, identity: who ? { oid: who.oid, name: who.name } : null };
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
    // No direct URL (e.g. the SAS could not be signed): the bytes go through Safelist instead.
    const url = await store.directUrl(b.key, b.size).catch((err: unknown) => {
      req.log.warn({ err, key: b.key }, 'direct download URL failed; streaming through Safelist');
      return undefined;
    });
    if (url) return reply.code(302).header('location', url).header('cache-control', 'private, no-store').send();
  }
  const length = b.size === 0 ? 0 : end - start + 1;
  reply.header('content-length', String(length));
  if (partial) reply.code(206).header('content-range', `bytes ${start}-${end}/${b.size}`);
  if (req.method === 'HEAD' || length === 0) return reply.send();
  if (store.openReader) return sendFromReader(store.openReader.bind(store), req, reply, b, start, length);
  let stream;
  try {
    stream = await store.get(b.key, partial ? { start, end } : undefined);
  } catch (err) {
    if (err instanceof BlobNotFound)
      throw errors.unavailable(`${b.filename ?? b.key} is recorded but its bytes are missing from storage; an operator must re-sync it`);
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
 * Size of each read: every read is a thread-pool round trip (tens of µs of CPU on a small VM),
 * so reads below 1 MiB cost more CPU per GiB; 4 MiB reads measured no better than 2 MiB.
 */
const CHUNK = 2 * 1024 * 1024;
/** Buffers per response: one being read while the others wait in the socket. */
const RING = 3;
/** Idle CHUNK buffers kept for the next responses, so a busy server allocates almost none. */
const IDLE_MAX = 16;
const idle: Buffer[] = [];

/**
 * Writes bytes start..start+length-1 of a stored object straight to the socket from a small
 * ring of reused buffers: a buffer is read into again only once the socket has taken its
 * previous bytes (the write callback), so memory per response stays at RING × CHUNK. Cuts the
 * response off, like ExactLength, when the object is shorter or longer than recorded.
 */
async function sendFromReader(
  open: (key: string) => Promise<BlobReader>,
  req: FastifyRequest,
  reply: FastifyReply,
  b: BlobResponse,
  start: number,
  length: number,
): Promise<FastifyReply> {
  let reader;
  try {
    reader = await open(b.key);
  } catch (err) {
    if (err instanceof BlobNotFound)
      throw errors.unavailable(`${b.filename ?? b.key} is recorded but its bytes are missing from storage; an operator must re-sync it`);
    throw errors.unavailable(`storage is unreachable: ${(err as Error).message}`);
  }
  const res = reply.raw;
  reply.hijack();
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  const gone = new Promise<void>((ok) => res.once('close', ok));
  const small = length < CHUNK;
  const ring = Array.from({ length: small ? 1 : RING }, () =>
    small ? Buffer.allocUnsafeSlow(length) : (idle.pop() ?? Buffer.allocUnsafeSlow(CHUNK)),
  );
  const written: Array<Promise<void> | undefined> = [];
  const stop = start + length;
  let clean = false;
  try {
    for (let pos = start, i = 0; pos < stop; i = (i + 1) % ring.length) {
      if (written[i]) await Promise.race([written[i], gone]);
      if (res.destroyed) return reply;
      const buf = ring[i]!;
      const want = Math.min(buf.length, stop - pos);
      // A longer object fails before the chunk that would complete the response.
      const n = reader.size > b.size && pos + want >= stop ? -1 : await reader.read(buf, want, pos);
      if (n <= 0) {
        req.log.error(
          { key: b.key, expected: b.size, stored: reader.size },
          'stored object does not have its recorded size; the response was cut off',
        );
        res.destroy();
        return reply;
      }
      written[i] = new Promise<void>((ok) => res.write(n === buf.length ? buf : buf.subarray(0, n), () => ok()));
      pos += n;
    }
    await Promise.race([Promise.all(written), gone]);
    clean = !res.destroyed;
    if (clean) res.end();
    return reply;
  } catch (err) {
    req.log.error({ err, key: b.key }, 'reading a stored object failed; the response was cut off');
    res.destroy();
    return reply;
  } finally {
    await reader.close().catch((err: unknown) => req.log.warn({ err, key: b.key }, 'closing a stored object reader failed'));
    // Buffers the socket might still hold (a response cut off mid-write) are left to the GC.
    if (clean && !small) for (const buf of ring) if (idle.length < IDLE_MAX) idle.push(buf);
  }
}

/**
 * Passes bytes through and fails the response when the stored object is shorter or longer
 * than recorded: a client then sees a broken download at once, instead of waiting for bytes
 * that never come (Content-Length was already sent) or receiving a silently wrong file.
 */
class ExactLength extends Transform {
  private seen = 0;
  constructor(
    private readonly expected: number,
    private readonly onMismatch: () => void,
  ) {
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
