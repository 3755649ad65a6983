// Reads an upstream conda channel over HTTP: {channel}/{subdir}/repodata.json as a byte
// stream (never buffered whole: conda-forge's runs to hundreds of MB) and package files. Only
// the sync job calls this; the read path never contacts an upstream. A stalled transfer is
// aborted after the sync timeout without data, however long the whole transfer takes.
import { Readable, Transform } from 'node:stream';
import type { CondaChannelConfig } from '../../config/schema.js';
import { describeFetchFailure } from '../../upstream/fetch-failure.js';

export class CondaUpstreamError extends Error {
  readonly code = 'UPSTREAM_ERROR';
}

export class CondaUpstream {
  private readonly base: string;

  constructor(
    readonly config: CondaChannelConfig,
    private readonly idleTimeoutMs: number,
  ) {
    this.base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  }

  get name(): string {
    return this.config.name;
  }

  urlOf(subdir: string, filename: string): string {
    return new URL(`${subdir}/${encodeURIComponent(filename)}`, this.base).toString();
  }

  /** Where a package file lives: beside the repodata, or under info.base_url when the channel sets one (CEP 15). */
  fileUrl(subdir: string, filename: string, baseUrl?: unknown): string {
    if (typeof baseUrl !== 'string' || baseUrl === '') return this.urlOf(subdir, filename);
    const b = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`, new URL(`${subdir}/`, this.base));
    return new URL(encodeURIComponent(filename), b).toString();
  }

  /** GETs a URL and returns its body as a stream that fails when no byte arrives for the idle timeout. */
  private async get(url: string, what: string): Promise<{ body: Readable; size: number | undefined }> {
    const ctl = new AbortController();
    let timer = setTimeout(() => ctl.abort(new Error(`no data for ${this.idleTimeoutMs} ms`)), this.idleTimeoutMs);
    let res: Response;
    try {
      // gzip is accepted (fetch decodes it); the filter sees plain JSON bytes.
      res = await fetch(url, {
        headers: { 'user-agent': 'safelist-sync', 'accept-encoding': 'gzip' },
        signal: ctl.signal,
        redirect: 'follow',
      });
    } catch (err) {
      clearTimeout(timer);
      throw new CondaUpstreamError(`${this.name}: upstream unreachable at ${url}: ${describeFetchFailure(err)}`);
    }
    if (!res.ok || !res.body) {
      clearTimeout(timer);
      await res.body?.cancel().catch(() => undefined); // drop the body; the status is the error reported below
      throw new CondaUpstreamError(`${this.name}: upstream error: ${what} answered HTTP ${res.status} at ${url}`);
    }
    const source = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    // A pass-through that re-arms the idle timer on every chunk (a 'data' listener on the
    // source would start it flowing before the caller reads).
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
      body.destroy(new CondaUpstreamError(`${this.name}: ${what} broke off at ${url}: ${describeFetchFailure(err)}`, { cause: err }));
    });
    body.on('close', () => clearTimeout(timer));
    source.pipe(body);
    const len = res.headers.get('content-length');
    return { body, size: len !== null && !res.headers.get('content-encoding') ? Number(len) : undefined };
  }

  repodata(subdir: string): Promise<{ body: Readable; size: number | undefined }> {
    return this.get(this.urlOf(subdir, 'repodata.json'), `repodata of ${subdir}`);
  }

  download(url: string, filename: string): Promise<{ body: Readable; size: number | undefined }> {
    return this.get(url, filename);
  }
}
