// The HTTP plumbing every upstream client shares: a request whose failures are UpstreamErrors
// (refused, DNS, TLS → UNAVAILABLE; no answer in time → TIMEOUT), retries of idempotent small
// requests as config says, an error for a status, and a body stream in bounded memory that
// fails when no byte comes for the timeout (time spent waiting on our own consumer does not
// count), that says where a transfer broke off, and that checks a digest when one is expected.
// Never buffers a file and never puts a URL's credentials or a header in a message.
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { describeFetchFailure } from './fetch-failure.js';
import { FileBody } from './file-body.js';
import { contentCodings, decodedBody, fileGet, RedirectRefused, type FileAnswer } from './file-get.js';
import { HttpProtocolError, ProxyRefused } from './http1.js';
import { proxyFor } from './proxy.js';
import { StallTimer } from './stall.js';
import { codeForStatus, TRANSIENT, UPSTREAM, UpstreamError, type UpstreamErrorCode, type UpstreamOptions } from './types.js';

export { StallTimer };

/**
 * What a proxy's refusal means: 407 and 401 (its credentials; tinyproxy answers a wrong password with 401), 403 (its policy) need the configuration
 * fixed; 502-504 and 429 say the proxy could not reach the upstream now; anything else is an
 * answer we cannot use.
 */
export function proxyRefusalCode(status: number): UpstreamErrorCode {
  if (status === 407 || status === 403 || status === 401) return UPSTREAM.DENIED;
  if (status === 429 || status >= 500) return UPSTREAM.UNAVAILABLE;
  return UPSTREAM.BAD_RESPONSE;
}

/** undici's ProxyAgent reports a refused CONNECT only in its message. */
const UNDICI_PROXY_REFUSAL = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$/;

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e && typeof e === 'object' && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * The error for a request that got no answer: TIMEOUT when the clock ran out, a proxy's refusal
 * by its status (proxyRefusalCode), UNAVAILABLE otherwise. Names the proxy (never its
 * credentials) when the request went through one.
 */
export function unreachable(upstream: string, url: string, err: unknown, timeoutMs: number): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const proxy = URL.canParse(url) ? proxyFor(new URL(url)) : undefined;
  const refused = causes(err).find((e) => e instanceof ProxyRefused);
  if (refused)
    return new UpstreamError(upstream, proxyRefusalCode(refused.status), `${upstream}: ${url}: ${refused.message}`, { cause: err });
  const undiciRefusal = causes(err)
    .map((e) => UNDICI_PROXY_REFUSAL.exec((e as Error).message ?? ''))
    .find((m) => m);
  if (undiciRefusal && proxy) {
    const refusal = new ProxyRefused(proxy.name, Number(undiciRefusal[1]), `the tunnel to ${new URL(url).host}`);
    return new UpstreamError(upstream, proxyRefusalCode(refusal.status), `${upstream}: ${url}: ${refusal.message}`, { cause: err });
  }
  const code = (err as { name?: string })?.name === 'TimeoutError' ? UPSTREAM.TIMEOUT : UPSTREAM.UNAVAILABLE;
  const through = proxy ? ` through proxy ${proxy.name}` : '';
  return new UpstreamError(
    upstream,
    code,
    `${upstream}: upstream unreachable at ${url}${through}: ${describeFetchFailure(err, timeoutMs)}`,
    {
      cause: err,
    },
  );
}

/** fetch, with every failure to get an answer as an UpstreamError. */
export async function send(upstream: string, url: string | URL, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const u = new URL(url);
    return Promise.reject(unreachable(upstream, `${u.origin}${u.pathname}${u.search}`, err, timeoutMs));
  }
}

/** Drops a body we will not read, so the connection can be reused; a failed drain changes nothing. */
export async function drain(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined); // only drains the connection
}

/** The error for an answer that is not a success (the body is drained). */
export async function statusError(upstream: string, res: Response, message: string): Promise<UpstreamError> {
  await drain(res);
  return new UpstreamError(upstream, codeForStatus(res.status), message + throughProxy(res.url, res.status), { status: res.status });
}

/** " (through proxy …)" for a refusal that may be the proxy's own (some answer a wrong password with 401); '' otherwise. */
function throughProxy(url: string, status: number): string {
  const proxy = (status === 401 || status === 403 || status === 407) && URL.canParse(url) ? proxyFor(new URL(url)) : undefined;
  return proxy ? ` (through proxy ${proxy.name})` : '';
}

/** Runs an idempotent request again when it failed for a passing reason, up to `retries` more times. */
export async function withRetries<T>(opts: UpstreamOptions, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof UpstreamError) || !TRANSIENT.has(err.code) || attempt >= (opts.retries ?? 0)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 5_000)));
    }
  }
}

/** The announced size, unless the body is encoded (then the length is that of the encoded bytes). */
export function announcedSize(res: Response): number | undefined {
  const len = res.headers.get('content-length');
  return len !== null && !res.headers.get('content-encoding') && /^\d+$/.test(len) ? Number(len) : undefined;
}

export interface GuardOptions {
  /** What is being read, for messages ("wheel demo-1.0.whl", "blob app@sha256:…"). */
  what: string;
  /** Where from (no credentials). */
  url: string;
  /** The sha256 (hex) the bytes must hash to; checked when the stream ends. */
  sha256?: string | undefined;
}

/**
 * The answer's body as a Node stream guarded by `stall`: every chunk re-arms it; a body that
 * breaks off or stalls fails with an UpstreamError saying after how many bytes; bytes that do
 * not hash to the expected sha256 fail with INTEGRITY instead of ending.
 */
export function guardBody(upstream: string, res: Response, stall: StallTimer, opts: GuardOptions): Readable {
  return guardStream(upstream, Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), announcedSize(res), stall, opts);
}

function guardStream(upstream: string, source: Readable, size: number | undefined, stall: StallTimer, opts: GuardOptions): Readable {
  const hash = opts.sha256 ? createHash('sha256') : undefined;
  let received = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      hash?.update(chunk);
      stall.refresh();
      cb(null, chunk);
    },
    flush(cb) {
      stall.clear();
      const got = hash?.digest('hex');
      if (got === undefined || got === opts.sha256!.toLowerCase()) return cb();
      cb(
        new UpstreamError(
          upstream,
          UPSTREAM.INTEGRITY,
          `${upstream}: ${opts.what} from ${opts.url} has sha256 ${got}, not the expected ${opts.sha256}; refusing it`,
        ),
      );
    },
  });
  // Our consumer not reading (storage backpressure) is not the upstream's stall.
  stall.busy = () => guard.readableLength >= guard.readableHighWaterMark;
  // A stall ends the transfer with the timer's reason, whichever client carries the body.
  const onStall = () => source.destroy(stall.signal.reason as Error);
  stall.signal.addEventListener('abort', onStall, { once: true });
  source.on('error', (err) => {
    stall.clear();
    const ours = stall.signal.aborted && (err === stall.signal.reason || (err as { cause?: unknown }).cause === stall.signal.reason);
    const of = `${received} of ${size ?? 'unknown'} bytes`;
    if (ours && stall.stopped) {
      const reason = stall.signal.reason as Error;
      const message = `${upstream}: download of ${opts.url} stopped after ${of}: ${reason.message}`;
      return void guard.destroy(new UpstreamError(upstream, UPSTREAM.UNAVAILABLE, message, { cause: reason }));
    }
    const code = ours || (err as { name?: string }).name === 'TimeoutError' ? UPSTREAM.TIMEOUT : UPSTREAM.UNAVAILABLE;
    const why = ours ? `no data for ${stall.ms} ms` : describeFetchFailure(err, stall.ms);
    const message = `${upstream}: download of ${opts.url} broke off after ${of}: ${why}`;
    guard.destroy(new UpstreamError(upstream, code, message, { cause: err }));
  });
  guard.on('close', () => {
    stall.clear();
    stall.signal.removeEventListener('abort', onStall);
    source.destroy();
  });
  source.pipe(guard);
  return guard;
}

/**
 * GET a file as a guarded body: read as a stream or into the reader's buffers (FileBody); an
 * encoded one is decoded and guarded as a stream (guardStream). `signal` (the job's) ends the
 * transfer when it aborts. A status other than success
 * rejects with the status's code, a URL without credentials named in every message. The body
 * comes over HTTP/1.1 into reused buffers (http1.ts), not through fetch or node:http.
 */
export async function openStream(
  upstream: string,
  url: string,
  init: { headers: Record<string, string>; timeoutMs: number; signal?: AbortSignal | undefined } & Omit<GuardOptions, 'url'>,
): Promise<{ body: Readable; size: number | undefined }> {
  const stall = new StallTimer(init.timeoutMs, init.signal);
  let answer: FileAnswer;
  try {
    answer = await fileGet(url, init.headers, { signal: stall.signal, onProgress: () => stall.refresh() });
  } catch (err) {
    stall.clear();
    if (stall.stopped) throw stall.signal.reason; // told to stop (the job lost its lock): not the upstream's failure
    const u = new URL(url);
    const where = `${u.origin}${u.pathname}${u.search}`;
    if (err instanceof RedirectRefused || err instanceof HttpProtocolError)
      throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, `${upstream}: ${where}: ${err.message}`);
    throw unreachable(upstream, where, err, init.timeoutMs);
  }
  if (answer.status < 200 || answer.status > 299) {
    stall.clear();
    answer.body.destroy();
    const message = `${upstream}: upstream error: ${init.what} answered HTTP ${answer.status} at ${url}${throughProxy(url, answer.status)}`;
    throw new UpstreamError(upstream, codeForStatus(answer.status), message, { status: answer.status });
  }
  if (contentCodings(answer).length === 0) {
    const body = new FileBody(upstream, answer.body, stall, { what: init.what, url, sha256: init.sha256, size: answer.length });
    return { body, size: answer.length };
  }
  let source: Readable;
  try {
    source = decodedBody(answer);
  } catch (err) {
    stall.clear();
    answer.body.destroy();
    const message = `${upstream}: ${init.what} at ${url}: ${(err as Error).message}`;
    throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, message);
  }
  // The announced length is that of the encoded bytes: no size is announced for the file.
  const body = guardStream(upstream, source, undefined, stall, { what: init.what, url, sha256: init.sha256 });
  return { body, size: undefined };
}

/** HEAD a file: its size, or undefined when the upstream does not have it. */
export async function headFile(
  upstream: string,
  url: string,
  init: { headers: Record<string, string>; timeoutMs: number; what: string },
): Promise<{ size: number | undefined } | undefined> {
  const res = await send(
    upstream,
    url,
    { method: 'HEAD', headers: init.headers, signal: AbortSignal.timeout(init.timeoutMs), redirect: 'follow' },
    init.timeoutMs,
  );
  if (res.status === 404 || res.status === 410) return void (await drain(res));
  if (!res.ok) throw await statusError(upstream, res, `${upstream}: upstream error: ${init.what} answered HTTP ${res.status} at ${url}`);
  await drain(res);
  return { size: announcedSize(res) };
}
