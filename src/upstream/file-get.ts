// GET of a file body over HTTP/1.1 (http1.ts: read into the reader's buffers, no allocation per
// chunk). Behaves as fetch(url, { redirect: 'follow' }) does where callers rely on it: follows
// up to 20 redirects, drops credentials on a redirect to another origin, decodes the
// Content-Encodings fetch decodes. Never follows a redirect to a scheme other than http(s),
// never sends credentials to an origin they were not given for, and never buffers a body.
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import { http1Get, type Http1Answer, type Http1Body } from './http1.js';

const MAX_REDIRECTS = 20;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
/** Headers fetch removes when a redirect leads to another origin (plus cookies, which we never send). */
const ORIGIN_BOUND = ['authorization', 'proxy-authorization', 'cookie'];

export type FileAnswer = Http1Answer;

/** Thrown for an answer this client cannot follow (redirect loop, another scheme). */
export class RedirectRefused extends Error {
  override readonly name = 'RedirectRefused';
}

/**
 * GET url, following redirects; resolves with the final answer (any status) once its head came.
 * The caller reads or destroys its body. Rejects as fetch would: a network error, or the
 * signal's reason when it aborts before the head. onProgress is called at every socket read.
 */
export async function fileGet(
  url: string,
  headers: Record<string, string>,
  opts: { signal: AbortSignal; onProgress?: () => void },
): Promise<FileAnswer> {
  let current = new URL(url);
  let sent = { ...headers };
  for (let hops = 0; ; hops++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new RedirectRefused(`cannot fetch a ${current.protocol} URL`);
    const answer = await http1Get(current, sent, opts).catch((err: unknown) => {
      throw opts.signal.aborted ? opts.signal.reason : err;
    });
    const location = answer.headers.location;
    if (!REDIRECT.has(answer.status) || location === undefined) return answer;
    answer.body.destroy(); // a redirect's body is never read; its connection is not reused
    if (hops >= MAX_REDIRECTS) throw new RedirectRefused(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new RedirectRefused(`redirect to a ${next.protocol} URL refused`);
    if (next.origin !== current.origin)
      sent = Object.fromEntries(Object.entries(sent).filter(([k]) => !ORIGIN_BOUND.includes(k.toLowerCase())));
    current = next;
  }
}

/** Content-Encodings fetch undoes (RFC 9110 names, plus x-gzip). */
const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
  zstd: () => createZstdDecompress(),
};

/** The Content-Encodings applied to the body, the last applied first; identity left out. */
export function contentCodings(answer: FileAnswer): string[] {
  return (answer.headers['content-encoding'] ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
    .reverse();
}

/** Chunk size of a body read as a stream (decoded bodies only: plain ones are read into the reader's buffers). */
const STREAM_CHUNK = 64 * 1024;

/** A body as a Node stream (a new buffer per chunk); destroying the stream drops the body. */
export function bodyStream(body: Http1Body): Readable {
  return new Readable({
    highWaterMark: STREAM_CHUNK,
    read() {
      const chunk = Buffer.allocUnsafe(STREAM_CHUNK);
      body.read(chunk, 0, chunk.length).then(
        (n) => this.push(n === 0 ? null : chunk.subarray(0, n)),
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, cb) {
      body.destroy(err ?? undefined);
      cb(err);
    },
  });
}

/**
 * The body with its Content-Encoding undone (the last applied first), errors of every stage
 * carried to the stream returned; destroying that stream drops the body. An encoding no
 * decoder knows throws, naming it.
 */
export function decodedBody(answer: FileAnswer): Readable {
  const codings = contentCodings(answer);
  const unknown = codings.find((c) => !DECODERS[c]);
  if (unknown) throw new Error(`unsupported Content-Encoding ${unknown}`);
  let body: Readable = bodyStream(answer.body);
  for (const coding of codings) {
    const decoder = DECODERS[coding]!() as unknown as Readable & NodeJS.WritableStream;
    const from = body;
    from.on('error', (err) => decoder.destroy(err));
    decoder.on('close', () => from.destroy());
    from.pipe(decoder);
    body = decoder;
  }
  return body;
}
