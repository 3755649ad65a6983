// A file body coming from an upstream (http1.ts), guarded, and read one of two ways: as a Node
// stream, or into the reader's own buffers (ByteSource: what storeVerified writes into storage
// with no buffer allocated per chunk). Never both on one body. A body that stalls fails with
// TIMEOUT, one cut off with UNAVAILABLE (BAD_RESPONSE when its framing is broken), saying after
// how many bytes; bytes that do not hash to the expected sha256 fail with INTEGRITY instead of
// ending. Never hands on a byte after its error, and never takes the reader's slowness
// (storage) for the upstream's.
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ByteSource } from '../storage/types.js';
import { describeFetchFailure } from './fetch-failure.js';
import { HttpProtocolError, type Http1Body } from './http1.js';
import type { StallTimer } from './stall.js';
import { UPSTREAM, UpstreamError } from './types.js';

/** Chunk size when the body is read as a stream (each chunk a new buffer). */
const STREAM_CHUNK = 64 * 1024;

export interface FileBodyOptions {
  /** What is being read, for messages ("w.whl"). */
  what: string;
  /** Where from (no credentials). */
  url: string;
  /** The sha256 (hex) the bytes must hash to; checked at the end. */
  sha256?: string | undefined;
  /** The size the upstream announced (Content-Length of an unencoded body). */
  size: number | undefined;
}

export class FileBody extends Readable implements ByteSource {
  private received = 0;
  private readonly hash: Hash | undefined;
  private streaming = false;
  private failure: UpstreamError | undefined;

  constructor(
    private readonly upstream: string,
    private readonly source: Http1Body,
    private readonly stall: StallTimer,
    private readonly opts: FileBodyOptions,
  ) {
    super({ highWaterMark: STREAM_CHUNK });
    this.hash = opts.sha256 ? createHash('sha256') : undefined;
    // Bytes waiting for our reader (storage backpressure) are not the upstream's stall.
    stall.busy = () => source.holding;
  }

  get announcedSize(): number | undefined {
    return this.opts.size;
  }

  readInto(buf: Buffer, offset: number, length: number): Promise<number> {
    if (this.streaming) return Promise.reject(new Error('FileBody: already read as a stream'));
    return this.next(buf, offset, length);
  }

  private async next(buf: Buffer, offset: number, length: number): Promise<number> {
    if (this.failure) throw this.failure;
    let n: number;
    try {
      n = await this.source.read(buf, offset, length);
    } catch (err) {
      throw (this.failure = this.brokeOff(err));
    }
    if (n > 0) {
      this.received += n;
      this.hash?.update(buf.subarray(offset, offset + n));
      return n;
    }
    this.stall.clear();
    const got = this.hash?.digest('hex');
    if (got !== undefined && got !== this.opts.sha256!.toLowerCase()) {
      const { what, url, sha256 } = this.opts;
      const message = `${this.upstream}: ${what} from ${url} has sha256 ${got}, not the expected ${sha256}; refusing it`;
      throw (this.failure = new UpstreamError(this.upstream, UPSTREAM.INTEGRITY, message));
    }
    return 0;
  }

  /** The error for a transfer that failed midway: TIMEOUT when it stalled, UNAVAILABLE otherwise. */
  private brokeOff(err: unknown): UpstreamError {
    this.stall.clear();
    if (err instanceof UpstreamError) return err;
    const reason: unknown = this.stall.signal.reason;
    const ours = this.stall.signal.aborted && (err === reason || (err as { cause?: unknown }).cause === reason);
    const of = `${this.received} of ${this.opts.size ?? 'unknown'} bytes`;
    if (ours && this.stall.stopped) {
      const message = `${this.upstream}: download of ${this.opts.url} stopped after ${of}: ${(reason as Error).message}`;
      return new UpstreamError(this.upstream, UPSTREAM.UNAVAILABLE, message, { cause: reason });
    }
    const code =
      ours || (err as { name?: string }).name === 'TimeoutError'
        ? UPSTREAM.TIMEOUT
        : err instanceof HttpProtocolError
          ? UPSTREAM.BAD_RESPONSE
          : UPSTREAM.UNAVAILABLE;
    const why = ours ? `no data for ${this.stall.ms} ms` : describeFetchFailure(err, this.stall.ms);
    const message = `${this.upstream}: download of ${this.opts.url} broke off after ${of}: ${why}`;
    return new UpstreamError(this.upstream, code, message, { cause: err });
  }

  override _read(): void {
    this.streaming = true;
    const chunk = Buffer.allocUnsafe(STREAM_CHUNK);
    this.next(chunk, 0, chunk.length).then(
      (n) => this.push(n === 0 ? null : chunk.subarray(0, n)),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stall.clear();
    this.source.destroy();
    cb(err);
  }
}
