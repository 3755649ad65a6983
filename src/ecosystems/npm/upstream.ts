// Reads an upstream npm registry: a package's full packument (JSON, size-capped, parsed whole)
// and tarballs as byte streams (never buffered). Only the sync job calls this; the read path
// never contacts an upstream. A stalled transfer is aborted after the sync timeout without data;
// one under way when the caller's signal aborts (its job lost its lock) is cut at once and fails
// with the signal's reason, never reported as the upstream's failure or a stall.
// Never sends the configured token to another host than the registry's own.
import { Readable, Transform } from 'node:stream';
import type { NpmUpstreamConfig } from './config.js';
import { describeFetchFailure } from '../../upstream/fetch-failure.js';
import { encodeNpmName } from './names.js';

export class NpmUpstreamError extends Error {
  readonly code = 'UPSTREAM_ERROR';
}

/** The parts of an upstream packument the sync reads; everything else is carried as is. */
export interface UpstreamPackument {
  name?: unknown;
  'dist-tags'?: Record<string, unknown>;
  versions?: Record<string, Record<string, unknown>>;
  time?: Record<string, unknown>;
  [field: string]: unknown;
}

export class NpmUpstream {
  private readonly base: URL;

  constructor(
    readonly config: NpmUpstreamConfig,
    private readonly idleTimeoutMs: number,
    private readonly maxPackumentBytes: number,
  ) {
    this.base = new URL(config.url.endsWith('/') ? config.url : `${config.url}/`);
  }

  get name(): string {
    return this.config.name;
  }

  private headers(url: string, accept: string): Record<string, string> {
    const sameHost = new URL(url).host === this.base.host;
    return {
      'user-agent': 'safelist-sync',
      accept,
      ...(this.config.token && sameHost ? { authorization: `Bearer ${this.config.token}` } : {}),
    };
  }

  /**
   * GETs a URL; its body arrives as a stream that fails when no byte comes for the idle timeout,
   * or with `signal`'s reason once it aborts (the request or the transfer cut). Undefined on 404.
   */
  private async get(
    url: string,
    what: string,
    accept: string,
    signal: AbortSignal | undefined,
  ): Promise<{ body: Readable; size: number | undefined } | undefined> {
    signal?.throwIfAborted();
    const ctl = new AbortController(); // the idle timer's
    const cut = signal ? AbortSignal.any([ctl.signal, signal]) : ctl.signal;
    let timer = setTimeout(() => ctl.abort(new Error(`no data for ${this.idleTimeoutMs} ms`)), this.idleTimeoutMs);
    let res: Response;
    try {
      res = await fetch(url, { headers: this.headers(url, accept), signal: cut, redirect: 'follow' });
    } catch (err) {
      clearTimeout(timer);
      if (signal?.aborted) throw signal.reason; // told to stop: not the upstream's failure
      throw new NpmUpstreamError(`${this.name}: upstream unreachable at ${url}: ${describeFetchFailure(err)}`);
    }
    if (res.status === 404) {
      clearTimeout(timer);
      await res.body?.cancel().catch(() => undefined); // drop the body: a 404 says all
      return undefined;
    }
    if (!res.ok || !res.body) {
      clearTimeout(timer);
      await res.body?.cancel().catch(() => undefined); // drop the body; the status is the error reported below
      throw new NpmUpstreamError(`${this.name}: upstream error: ${what} answered HTTP ${res.status} at ${url}`);
    }
    const source = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const idle = this.idleTimeoutMs;
    const body = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        clearTimeout(timer);
        timer = setTimeout(() => ctl.abort(new Error(`no data for ${idle} ms`)), idle);
        cb(null, chunk);
      },
      flush(cb) {
        clearTimeout(timer);
        cb();
      },
    });
    source.on('error', (err) => {
      clearTimeout(timer);
      if (signal?.aborted) return void body.destroy(signal.reason as Error); // told to stop, not the upstream's failure
      body.destroy(new NpmUpstreamError(`${this.name}: ${what} broke off at ${url}: ${describeFetchFailure(err)}`, { cause: err }));
    });
    body.on('close', () => clearTimeout(timer));
    source.pipe(body);
    const len = res.headers.get('content-length');
    return { body, size: len !== null && !res.headers.get('content-encoding') ? Number(len) : undefined };
  }

  /** The full packument of a package, or undefined when the upstream does not have it. */
  async packument(name: string, signal?: AbortSignal): Promise<UpstreamPackument | undefined> {
    const url = new URL(encodeNpmName(name), this.base).toString();
    const got = await this.get(url, `packument of ${name}`, 'application/json', signal);
    if (!got) return undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of got.body) {
      size += (chunk as Buffer).length;
      if (size > this.maxPackumentBytes) {
        got.body.destroy();
        throw new NpmUpstreamError(
          `${this.name}: the packument of ${name} is larger than npm.maxPackumentBytes (${this.maxPackumentBytes})`,
        );
      }
      chunks.push(chunk as Buffer);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      throw new NpmUpstreamError(`${this.name}: the packument of ${name} at ${url} is not JSON: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw new NpmUpstreamError(`${this.name}: the packument of ${name} at ${url} is not a JSON object`);
    return doc as UpstreamPackument;
  }

  /** A tarball's bytes as a stream; a 404 is an error here (the packument named it). Cut when `signal` aborts. */
  async tarball(url: string, what: string, signal?: AbortSignal): Promise<{ body: Readable; size: number | undefined }> {
    const got = await this.get(url, what, 'application/octet-stream', signal);
    if (!got) throw new NpmUpstreamError(`${this.name}: upstream error: ${what} answered HTTP 404 at ${url}`);
    return got;
  }
}
