// npm's Subresource Integrity strings ("sha512-<base64>", possibly several, space-separated) and
// a pass-through that verifies a tarball against them while it streams: sha512 (and the sha1
// shasum when the upstream gives one) checked in the same single pass that computes the sha256
// Safelist records, so memory stays bounded whatever the size. It must fail before the end of the
// stream is accepted, so a store never commits bytes whose digest does not match.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** The hex sha512 an integrity string names, or undefined when it names none (sha1-only packages). */
export function sha512OfIntegrity(integrity: string | null | undefined): string | undefined {
  for (const part of (integrity ?? '').trim().split(/\s+/)) {
    const m = /^sha512-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(part);
    if (!m) continue;
    const hex = Buffer.from(m[1]!, 'base64').toString('hex');
    if (hex.length === 128) return hex;
  }
  return undefined;
}

/** Where a tarball lives in the blob store: under its sha512, the digest npm's integrity gives. */
export function blobKeyForSha512(hex: string): string {
  if (!/^[0-9a-f]{128}$/.test(hex)) throw new Error(`not a sha512: ${hex}`);
  return `sha512/${hex.slice(0, 2)}/${hex}`;
}

export class IntegrityMismatch extends Error {
  readonly code = 'DIGEST_MISMATCH';
}

/** Verifies sha512 (and shasum) of the bytes passing through; `sha256` and `size` are set when it ends. */
export class VerifyingTarball extends Transform {
  private readonly h512 = createHash('sha512');
  private readonly h1 = createHash('sha1');
  private readonly h256 = createHash('sha256');
  size = 0;
  sha256: string | undefined;

  constructor(
    private readonly what: string,
    private readonly expected: { sha512: string; shasum: string | null; maxBytes: number },
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.expected.maxBytes)
      return cb(new IntegrityMismatch(`${this.what}: more than ${this.expected.maxBytes} bytes; refusing to store it`));
    this.h512.update(chunk);
    this.h1.update(chunk);
    this.h256.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const sha512 = this.h512.digest('hex');
    if (sha512 !== this.expected.sha512)
      return cb(
        new IntegrityMismatch(
          `${this.what}: sha512 is ${sha512}, the upstream's integrity says ${this.expected.sha512}; refusing to store it`,
        ),
      );
    const sha1 = this.h1.digest('hex');
    if (this.expected.shasum !== null && sha1 !== this.expected.shasum.toLowerCase())
      return cb(
        new IntegrityMismatch(`${this.what}: sha1 is ${sha1}, the upstream's shasum says ${this.expected.shasum}; refusing to store it`),
      );
    this.sha256 = this.h256.digest('hex');
    cb();
  }
}
