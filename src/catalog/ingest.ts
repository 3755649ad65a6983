// Puts bytes into content-addressed storage, verified. A stream whose digest or size does
// not match what was announced fails before the write commits, so nothing unverified ever
// becomes visible under a digest. Already-present objects are skipped (idempotent). A source
// that reads into the caller's buffers (an upstream file body) goes through a few reused
// buffers into a BlobWriter: one pass, hashed as each read lands, nothing allocated per chunk.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { isByteSource, type BlobStore, type ByteSource } from '../storage/types.js';
import { blobKeyForSha256 } from './blob-keys.js';

export class DigestMismatch extends Error {
  readonly code = 'DIGEST_MISMATCH';
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: sha256 is ${actual}, expected ${expected}; refusing to store it`);
  }
}

export class SizeMismatch extends Error {
  readonly code = 'SIZE_MISMATCH';
  constructor(
    readonly what: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`${what}: ${actual} bytes, expected ${expected}; refusing to store it`);
  }
}

class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(
    private readonly what: string,
    private readonly expected: string,
    private readonly expectedSize: number | undefined,
    private readonly maxBytes: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return cb(new SizeMismatch(this.what, this.expectedSize ?? this.maxBytes, this.size));
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expected) return cb(new DigestMismatch(this.what, this.expected, actual));
    if (this.expectedSize !== undefined && this.size !== this.expectedSize)
      return cb(new SizeMismatch(this.what, this.expectedSize, this.size));
    cb();
  }
}

export interface StoredObject {
  sha256: string;
  size: number;
  /** false when the object was already present. */
  written: boolean;
}

export interface Expected {
  sha256: string;
  size?: number;
  what: string;
  /** Most bytes accepted when no size is announced (64 GiB unless said). */
  maxBytes?: number;
}

/** Smallest buffer a source is read into (a small file announces its size: its buffer is that big). */
const MIN_BUFFER = 64 * 1024;

/**
 * Writes source into key through the writer's chunk-sized buffers (at most inFlight + 1 of
 * them, allocated as needed): each read is hashed where it landed, a full buffer is written
 * while the next one fills. Commits only when digest and size match; otherwise aborts (nothing
 * visible) and stops the source.
 */
async function storeFromSource(store: BlobStore, key: string, source: ByteSource, expect: Expected): Promise<number> {
  const writer = await store.openWriter(key);
  const limit = expect.size ?? expect.maxBytes ?? 64 * 1024 ** 3;
  const bufferSize = Math.min(writer.chunkSize, Math.max(MIN_BUFFER, source.announcedSize ?? expect.size ?? writer.chunkSize));
  const hash = createHash('sha256');
  const writes: Array<Promise<Buffer>> = [];
  const nextBuffer = async (): Promise<Buffer> =>
    writes.length < writer.inFlight ? writer.buffer(bufferSize) : ((await writes.shift()) as Buffer);
  const send = (buf: Buffer, length: number) => {
    const done = writer.write(length === buf.length ? buf : buf.subarray(0, length)).then(() => buf);
    // Awaited in turn by nextBuffer or below; after an earlier failure some never are, and
    // writer.abort() waits for them instead.
    done.catch(() => undefined);
    writes.push(done);
  };
  let size = 0;
  try {
    let buf = await nextBuffer();
    let fill = 0;
    for (;;) {
      const n = await source.readInto(buf, fill, buf.length - fill);
      if (n === 0) break;
      hash.update(buf.subarray(fill, fill + n));
      fill += n;
      size += n;
      if (size > limit) throw new SizeMismatch(expect.what, limit, size);
      if (fill === buf.length) {
        send(buf, fill);
        buf = await nextBuffer();
        fill = 0;
      }
    }
    if (fill > 0) send(buf, fill);
    await Promise.all(writes);
    const actual = hash.digest('hex');
    if (actual !== expect.sha256) throw new DigestMismatch(expect.what, expect.sha256, actual);
    if (expect.size !== undefined && size !== expect.size) throw new SizeMismatch(expect.what, expect.size, size);
    return (await writer.commit()).size;
  } catch (err) {
    source.destroy();
    await writer.abort();
    throw err;
  }
}

/** Stores a stream (or a ByteSource) under its announced sha256, verifying digest (and size when known). */
export async function storeVerified(store: BlobStore, body: Readable | ByteSource, expect: Expected): Promise<StoredObject> {
  const key = blobKeyForSha256(expect.sha256);
  if (isByteSource(body)) {
    const present = await store.stat(key);
    if (present && (expect.size === undefined || present.size === expect.size)) {
      body.destroy();
      return { sha256: expect.sha256, size: present.size, written: false };
    }
    return { sha256: expect.sha256, size: await storeFromSource(store, key, body, expect), written: true };
  }
  // Hold any early body error until it is piped below (or dropped with the body).
  let early: Error | undefined;
  const hold = (err: Error) => {
    early ??= err;
  };
  body.on('error', hold);
  const present = await store.stat(key);
  if (present && (expect.size === undefined || present.size === expect.size)) {
    body.destroy();
    return { sha256: expect.sha256, size: present.size, written: false };
  }
  const verify = new VerifyingStream(expect.what, expect.sha256, expect.size, expect.maxBytes ?? 64 * 1024 ** 3);
  body.off('error', hold);
  body.on('error', (err) => verify.destroy(err));
  // The store may not attach to the stream at once (it first prepares a temp file); an error
  // in between must not go unhandled. store.put still rejects with it: a destroyed stream
  // keeps its error and pipeline() reports it.
  verify.on('error', () => {});
  if (early) verify.destroy(early);
  const info = await store.put(key, body.pipe(verify));
  return { sha256: expect.sha256, size: info.size, written: true };
}

export async function sha256OfFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

export function sha256OfBuffer(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function storeBuffer(store: BlobStore, b: Buffer, what: string): Promise<StoredObject> {
  const sha256 = sha256OfBuffer(b);
  return storeVerified(store, Readable.from([b]), { sha256, size: b.length, what });
}

export async function storeFile(store: BlobStore, path: string, what: string): Promise<StoredObject> {
  const { sha256, size } = await sha256OfFile(path);
  return storeVerified(store, createReadStream(path, { highWaterMark: 1024 * 1024 }), { sha256, size, what });
}

/** Every regular file below dir, depth first (what `safelist import` reads from a folder). */
export async function* filesUnder(dir: string): AsyncIterable<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* filesUnder(p);
    else if (e.isFile()) yield p;
  }
}
