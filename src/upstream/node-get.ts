// GET over node:http / node:https for file bodies: the answer's body is a Node stream as the
// socket delivers it, without fetch's WHATWG stream and the web → Node bridge (a promise and two
// stream hops per 64 KiB chunk, about a fifth of the sync's CPU per GB; bench/README.md,
// sync.ts). Behaves as fetch(url, { redirect: 'follow' }) does where callers rely on it: follows
// up to 20 redirects, drops credentials on a redirect to another origin, decodes the
// Content-Encodings fetch decodes. Never follows a redirect to a scheme other than http(s),
// never sends credentials to an origin they were not given for, and never buffers a body.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';

const MAX_REDIRECTS = 20;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
/** Headers fetch removes when a redirect leads to another origin (plus cookies, which we never send). */
const ORIGIN_BOUND = ['authorization', 'proxy-authorization', 'cookie'];

export interface NodeAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as received (before any Content-Encoding is undone). */
  message: IncomingMessage;
}

/** Thrown for an answer this client cannot follow (redirect loop, another scheme). */
export class RedirectRefused extends Error {
  override readonly name = 'RedirectRefused';
}

function once(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new RedirectRefused(`cannot fetch a ${url.protocol} URL`));
  return new Promise((resolve, reject) => {
    // An error after the answer came is the body's (the message emits it too); the listener stays
    // so that it is never unhandled.
    const req = client.get(url, { headers, signal }, resolve);
    req.on('error', reject);
  });
}

/**
 * GET url, following redirects; resolves with the final answer (any status) once its headers
 * came. The caller reads or drops `message`. Rejects as fetch would: a network error, or the
 * signal's reason when it aborts before the headers.
 */
export async function nodeGet(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<NodeAnswer> {
  let current = new URL(url);
  let sent = { ...headers };
  for (let hops = 0; ; hops++) {
    const message = await once(current, sent, signal).catch((err: unknown) => {
      throw signal.aborted ? signal.reason : err;
    });
    const status = message.statusCode ?? 0;
    const location = message.headers.location;
    if (!REDIRECT.has(status) || location === undefined) return { status, headers: message.headers, message };
    message.resume(); // only drains the redirect's body so the connection can be reused
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

/**
 * The body with its Content-Encoding undone (the last applied first), errors of every stage
 * carried to the stream returned; destroying that stream destroys the message. An encoding no
 * decoder knows throws, naming it.
 */
export function decodedBody(answer: NodeAnswer): Readable {
  const codings = (answer.headers['content-encoding'] ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
    .reverse();
  let body: Readable = answer.message;
  for (const coding of codings) {
    const make = DECODERS[coding];
    if (!make) throw new Error(`unsupported Content-Encoding ${coding}`);
    const decoder = make() as unknown as Readable & NodeJS.WritableStream;
    const from = body;
    from.on('error', (err) => decoder.destroy(err));
    decoder.on('close', () => from.destroy());
    from.pipe(decoder);
    body = decoder;
  }
  return body;
}
