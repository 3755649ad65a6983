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
import type { NodeAnswer } from './node-get.js';
import { codeForStatus, TRANSIENT, UPSTREAM, UpstreamError, type UpstreamOptions } from './types.js';

/**
 * node-get.ts, loaded at the first file transfer rather than at start: it imports node:http as an
 * ES module, and Node builds that module's namespace by reading every export, the lazy
 * `WebSocket` among them, which loads Node's bundled undici (4-5 MiB resident, bench/README.md
 * 2026-12-01 02:57-04:40) into a server that may never transfer a file.
 */
let nodeGetModule: Promise<typeof import('./node-get.js')> | undefined;
const loadNodeGet = (): Promise<typeof import('./node-get.js')> => (nodeGetModule ??= import('./node-get.js'));

/** The error for a request that got no answer: TIMEOUT when the clock ran out, UNAVAILABLE otherwise. */
export function unreachable(upstream: string, url: string, err: unknown, timeoutMs: number): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = (err as { name?: string })?.name === 'TimeoutError' ? UPSTREAM.TIMEOUT : UPSTREAM.UNAVAILABLE;
  return new UpstreamError(upstream, code, `${upstream}: upstream unreachable at ${url}: ${describeFetchFailure(err, timeoutMs)}`, {
    cause: err,
  });
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
  return new UpstreamError(upstream, codeForStatus(res.status), message, { status: res.status });
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

/**
 * A timer that aborts a transfer after `ms` without progress. Armed at once (so it covers
 * waiting for the answer's headers), re-armed by every chunk; while `busy()` says our own
 * consumer is not reading, it waits instead of firing.
 */
export class StallTimer {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  busy: () => boolean = () => false;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.fire(), ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  refresh(): void {
    this.timer.refresh();
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private fire(): void {
    if (this.busy()) this.timer.refresh();
    else this.controller.abort(new DOMException(`no data for ${this.ms} ms`, 'TimeoutError'));
  }
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
    const stalled = stall.signal.aborted && (err === stall.signal.reason || (err as { cause?: unknown }).cause === stall.signal.reason);
    const code = stalled || (err as { name?: string }).name === 'TimeoutError' ? UPSTREAM.TIMEOUT : UPSTREAM.UNAVAILABLE;
    const why = stalled ? `no data for ${stall.ms} ms` : describeFetchFailure(err, stall.ms);
    const message = `${upstream}: download of ${opts.url} broke off after ${received} of ${size ?? 'unknown'} bytes: ${why}`;
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

/** The announced size of a node:http answer, unless the body is encoded. */
function announcedNodeSize(answer: NodeAnswer): number | undefined {
  const len = answer.headers['content-length'];
  return len !== undefined && !answer.headers['content-encoding'] && /^\d+$/.test(len) ? Number(len) : undefined;
}

/**
 * GET a file as a guarded stream (see guardBody); a status other than success rejects with
 * the status's code, a URL without credentials named in every message. The body comes from
 * node:http(s) directly (node-get.ts), not through fetch's web stream.
 */
export async function openStream(
  upstream: string,
  url: string,
  init: { headers: Record<string, string>; timeoutMs: number } & Omit<GuardOptions, 'url'>,
): Promise<{ body: Readable; size: number | undefined }> {
  const { nodeGet, decodedBody, RedirectRefused } = await loadNodeGet();
  const stall = new StallTimer(init.timeoutMs);
  let answer: NodeAnswer;
  try {
    answer = await nodeGet(url, init.headers, stall.signal);
  } catch (err) {
    stall.clear();
    const u = new URL(url);
    const where = `${u.origin}${u.pathname}${u.search}`;
    if (err instanceof RedirectRefused) throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, `${upstream}: ${where}: ${err.message}`);
    throw unreachable(upstream, where, err, init.timeoutMs);
  }
  if (answer.status < 200 || answer.status > 299) {
    stall.clear();
    answer.message.resume(); // only drains the connection
    const message = `${upstream}: upstream error: ${init.what} answered HTTP ${answer.status} at ${url}`;
    throw new UpstreamError(upstream, codeForStatus(answer.status), message, { status: answer.status });
  }
  let source: Readable;
  try {
    source = decodedBody(answer);
  } catch (err) {
    stall.clear();
    answer.message.destroy();
    const message = `${upstream}: ${init.what} at ${url}: ${(err as Error).message}`;
    throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, message);
  }
  const body = guardStream(upstream, source, announcedNodeSize(answer), stall, { what: init.what, url, sha256: init.sha256 });
  return { body, size: announcedNodeSize(answer) };
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
