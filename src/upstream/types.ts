// The one shape every upstream client offers (PyPI simple index, conda channel, OCI registry)
// and the one error they all throw. Callers tell failures apart by `code` (a constant below),
// never by message text or by which ecosystem's client threw; the HTTP edge (http/errors.ts)
// and the CLI map the codes to statuses and exit codes in one place. Must never carry
// credentials or request headers in a message: callers name URLs without their userinfo.
import type { Readable } from 'node:stream';

/** Why an upstream call failed. */
export const UPSTREAM = {
  /** The upstream answered that it has no such name or file (404, 410). */
  NOT_FOUND: 'UPSTREAM_NOT_FOUND',
  /** Could not be asked, or answered that it cannot serve now: refused, reset, DNS, TLS, 5xx, 429, a body cut off. */
  UNAVAILABLE: 'UPSTREAM_UNAVAILABLE',
  /** Asked, but no answer (or no byte of the body) came within the configured timeout. */
  TIMEOUT: 'UPSTREAM_TIMEOUT',
  /** Refused our credentials (401, 403): the upstream's configuration needs fixing, retrying will not help. */
  DENIED: 'UPSTREAM_DENIED',
  /** Answered something we cannot use: another 4xx, an unknown content type, a document that does not parse. */
  BAD_RESPONSE: 'UPSTREAM_BAD_RESPONSE',
  /** The bytes do not hash to the digest the upstream announced or the caller expected: never stored, never served. */
  INTEGRITY: 'UPSTREAM_INTEGRITY',
  /** The request itself was not one the client makes (e.g. a delete by tag): a caller's bug or bad input. */
  INVALID_REQUEST: 'UPSTREAM_INVALID_REQUEST',
} as const;

export type UpstreamErrorCode = (typeof UPSTREAM)[keyof typeof UPSTREAM];

/** Codes that say "try again later" (the HTTP edge answers 503 with Retry-After). */
export const TRANSIENT: ReadonlySet<UpstreamErrorCode> = new Set([UPSTREAM.UNAVAILABLE, UPSTREAM.TIMEOUT]);

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  /** The upstream's HTTP status, when it answered one. */
  readonly status: number | undefined;

  constructor(
    /** The configured name of the upstream (or registry) that failed. */
    readonly upstream: string,
    readonly code: UpstreamErrorCode,
    message: string,
    opts: { status?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status;
  }
}

/** The code an HTTP status means when it is not a success. */
export function codeForStatus(status: number): UpstreamErrorCode {
  if (status === 404 || status === 410) return UPSTREAM.NOT_FOUND;
  if (status === 401 || status === 403) return UPSTREAM.DENIED;
  if (status === 408 || status === 429 || status >= 500) return UPSTREAM.UNAVAILABLE;
  return UPSTREAM.BAD_RESPONSE;
}

/** True when err is an UpstreamError with one of the codes. */
export function isUpstreamError(err: unknown, ...codes: UpstreamErrorCode[]): err is UpstreamError {
  return err instanceof UpstreamError && (codes.length === 0 || codes.includes(err.code));
}

/** A file's bytes as a stream, with the size the upstream announced. */
export interface UpstreamBody {
  /**
   * A file body over HTTP/1.1 (openStream) is also a ByteSource (storage/types.ts): storeVerified
   * then reads it into a few reused buffers instead of taking a new buffer per chunk.
   */
  body: Readable;
  size: number | undefined;
}

/** How long to wait and how often to try; from config (sync.timeout, sync.retries). */
export interface UpstreamOptions {
  /** A request without an answer, or a transfer without a byte, for this long fails with TIMEOUT. */
  timeoutMs: number;
  /** Further tries of an index or head request that failed UNAVAILABLE or TIMEOUT (never of a file stream). */
  retries?: number;
}

/**
 * What every ecosystem's upstream client offers. `Index` is what one name's index holds (a
 * PyPI project's files, a conda subdir's repodata as a stream, an image's tags); `FileRef`
 * says which file to open (a URL, a repository and digest). Every failure is an UpstreamError.
 */
export interface UpstreamClient<Index, FileRef> {
  /** The configured name of the upstream. */
  readonly name: string;
  /** The index of one name; undefined when the upstream does not have the name (404). */
  index(name: string): Promise<Index | undefined>;
  /**
   * A file's bytes as a stream in bounded memory: a transfer takes as long as it takes, but one
   * with no byte for the timeout fails (TIMEOUT); one cut off fails (UNAVAILABLE); with a
   * digest in the ref, bytes that do not hash to it fail at the end (INTEGRITY). A file the
   * upstream does not have rejects with NOT_FOUND. When `signal` aborts (the job must stop), the
   * transfer ends and the body fails.
   */
  open(ref: FileRef, opts?: { signal?: AbortSignal | undefined }): Promise<UpstreamBody>;
  /** A file's size without its bytes; undefined when the upstream does not have it. */
  head(ref: FileRef): Promise<{ size: number | undefined } | undefined>;
}
