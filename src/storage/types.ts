// The BlobStore seam: where artifact bytes live (local folder by default, Azure Blob in
// production). Callers never learn which. A write is atomic: readers see the whole object
// or nothing, and an interrupted write leaves nothing visible under its key.
import type { Readable } from 'node:stream';

export interface BlobInfo {
  size: number;
}

export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive */
  end: number;
}

/** An object opened for reads into the caller's buffers. */
export interface BlobReader {
  /** The object's size when it was opened. */
  readonly size: number;
  /** Reads up to length bytes at position into buf; resolves with the count, 0 at the end. */
  read(buf: Buffer, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Bytes read into the reader's own buffers (an upstream file body): a write into storage from
 * it allocates nothing per chunk, unlike a Node stream, whose every chunk is a new Buffer.
 */
export interface ByteSource {
  /** Reads up to length bytes into buf at offset; resolves with the count, 0 at the end, or rejects with the source's error. One read at a time. */
  readInto(buf: Buffer, offset: number, length: number): Promise<number>;
  /** The size the source announced, if any (the reader sizes its buffers by it). */
  readonly announcedSize: number | undefined;
  /** Stops the source early (the write failed or is not needed); never emits an error. */
  destroy(): void;
}

export function isByteSource(body: unknown): body is ByteSource {
  return typeof (body as Partial<ByteSource> | null)?.readInto === 'function';
}

/**
 * One object written from buffers the caller lends: write() resolves once its buffer may be
 * reused, and nothing is visible under the key before commit(). The caller keeps at most
 * `inFlight` writes pending; their bytes land in the order the calls were made.
 */
export interface BlobWriter {
  /** The write size this store handles best (one block on Azure): the caller's buffers are at most this big. */
  readonly chunkSize: number;
  /** How many write() calls may be pending at once. */
  readonly inFlight: number;
  /**
   * A buffer of `size` bytes (at most chunkSize) to fill and pass to write(): one the store can
   * write without a copy where it has such (aligned for direct I/O), else a plain one. It stays
   * the caller's to reuse until commit() or abort(), which take back what was lent.
   */
  buffer(size: number): Buffer;
  write(buf: Buffer): Promise<void>;
  /** Waits for the pending writes, then makes the object durable and visible under its key. */
  commit(): Promise<BlobInfo>;
  /** Drops what was written (after the pending writes settle); the key keeps what it had. */
  abort(): Promise<void>;
}

export interface PutOptions {
  /** Content-Type recorded with the object (Azure); a static website serves it as is. */
  contentType?: string;
}

export interface BlobStore {
  readonly kind: 'fs' | 'azure';
  /** Stores the stream under key atomically; resolves once it is durable and visible. */
  put(key: string, body: Readable | Buffer, opts?: PutOptions): Promise<BlobInfo>;
  /** Opens a write of key from lent buffers (see BlobWriter); atomic as put() is. */
  openWriter(key: string, opts?: PutOptions): Promise<BlobWriter>;
  /** Reads the object (or a byte range of it); rejects with BlobNotFound when absent. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Opens the object for reads into caller-owned buffers (rejects with BlobNotFound when
   * absent); only stores that read locally offer it. A server then reuses a few buffers per
   * response instead of allocating one per chunk, which under parallel downloads drives V8
   * into repeated full garbage collections (bench/oci-blob.ts).
   */
  openReader?(key: string): Promise<BlobReader>;
  /** Size of the object, or undefined when absent. */
  stat(key: string): Promise<BlobInfo | undefined>;
  delete(key: string): Promise<void>;
  /**
   * Appends bytes to an append-only object, creating it when absent: an append blob on Azure
   * (which immutability policies can lock), an O_APPEND file locally. Existing bytes are never
   * rewritten. Only for logs such as the audit anchors; never mixed with put() on one key.
   */
  append(key: string, data: Buffer): Promise<void>;
  /** Keys under a prefix (for verification and clean-up; not on the hot path). */
  list(prefix: string): AsyncIterable<string>;
  /**
   * A short-lived, read-only URL of the object that clients may fetch directly, or undefined
   * when the store does not offer one (local folder) or redirects are off.
   */
  directUrl?(key: string, size: number): Promise<string | undefined>;
  /** Proves the store is reachable and writable (used at start and by /readyz). */
  check(): Promise<void>;
}

export class BlobNotFound extends Error {
  readonly code = 'BLOB_NOT_FOUND';
  constructor(readonly key: string) {
    super(`no object stored under ${key}`);
  }
}

const SAFE_KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-zA-Z0-9][a-zA-Z0-9._+-]*)*$/;

/** Keys are produced by Safelist itself; this refuses anything that could escape a prefix. */
export function assertSafeKey(key: string): void {
  if (!SAFE_KEY.test(key) || key.includes('..') || key.length > 1024) {
    throw new Error(`unsafe blob key: ${JSON.stringify(key)}`);
  }
}
