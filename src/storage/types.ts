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

export interface PutOptions {
  /** Content-Type recorded with the object (Azure); a static website serves it as is. */
  contentType?: string;
}

export interface BlobStore {
  readonly kind: 'fs' | 'azure';
  /** Stores the stream under key atomically; resolves once it is durable and visible. */
  put(key: string, body: Readable | Buffer, opts?: PutOptions): Promise<BlobInfo>;
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
