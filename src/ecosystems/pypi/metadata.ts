// Core metadata (METADATA / PKG-INFO): reads it out of wheels (files, or stored objects by
// range reads) and sdists and parses the few headers Safelist needs. The bytes are kept exactly as found, because PEP 658 `.metadata`
// files must be byte-identical to the wheel's (pip rejects a mismatch).
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { PassThrough, type Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { BlobStore } from '../../storage/types.js';
import { normalizeProjectName } from './names.js';

export interface CoreMetadata {
  name?: string;
  version?: string;
  requiresPython?: string;
  requiresDist: string[];
  license?: string;
}

/** Parses RFC 822-style headers up to the first blank line (the body is the description). */
export function parseCoreMetadata(bytes: Buffer): CoreMetadata {
  const text = bytes.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  const head = end === -1 ? text : text.slice(0, end);
  const out: CoreMetadata = { requiresDist: [] };
  let last: { key: string; value: string } | undefined;
  const commit = () => {
    if (!last) return;
    const v = last.value.trim();
    switch (last.key.toLowerCase()) {
      case 'name':
        out.name = v;
        break;
      case 'version':
        out.version = v;
        break;
      case 'requires-python':
        out.requiresPython = v;
        break;
      case 'requires-dist':
        out.requiresDist.push(v);
        break;
      case 'license':
        out.license ??= v;
        break;
      case 'license-expression':
        out.license = v;
        break;
    }
  };
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      last.value += `\n${line.trim()}`;
      continue;
    }
    commit();
    const i = line.indexOf(':');
    last = i > 0 ? { key: line.slice(0, i), value: line.slice(i + 1) } : undefined;
  }
  commit();
  return out;
}

/** The exact bytes of {name}-{version}.dist-info/METADATA inside a wheel file. */
export function readWheelMetadata(path: string, distName: string, version: string, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(new Error(`not a valid wheel (zip): ${err?.message ?? 'unreadable'}`));
      findMetadata(zip, distName, version, maxBytes).then(resolve, reject);
    });
  });
}

/**
 * The same, read from a stored object through the zip central directory: a few range reads
 * near the end of the object (and one for METADATA itself), never the whole wheel. A 2 GB
 * CUDA wheel costs a few MiB of reads instead of a second download.
 */
export function readStoredWheelMetadata(
  store: BlobStore,
  key: string,
  size: number,
  distName: string,
  version: string,
  maxBytes = 16 * 1024 * 1024,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const reader = new BlobRangeReader(store, key, size);
    yauzl.fromRandomAccessReader(reader, size, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(new Error(`not a valid wheel (zip): ${err?.message ?? 'unreadable'}`));
      findMetadata(zip, distName, version, maxBytes).then(resolve, reject);
    });
  });
}

function findMetadata(zip: yauzl.ZipFile, distName: string, version: string, maxBytes: number): Promise<Buffer> {
  const want = normalizeProjectName(distName);
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      zip.close();
      reject(err);
    };
    let found = false;
    zip.on('entry', (entry: yauzl.Entry) => {
      const m = /^([^/]+)-([^/-]+)\.dist-info\/METADATA$/.exec(entry.fileName);
      if (
        !m ||
        normalizeProjectName(m[1]!) !== want ||
        (m[2] !== version && normalizeProjectName(m[2]!) !== normalizeProjectName(version))
      ) {
        zip.readEntry();
        return;
      }
      if (entry.uncompressedSize > maxBytes) return fail(new Error('METADATA is implausibly large'));
      found = true;
      zip.openReadStream(entry, (e2, s) => {
        if (e2 || !s) return fail(e2 ?? new Error('cannot read METADATA'));
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('error', fail);
        s.on('end', () => {
          zip.close();
          resolve(Buffer.concat(chunks));
        });
      });
    });
    zip.on('end', () => {
      if (!found) fail(new Error(`the wheel has no ${distName}-${version}.dist-info/METADATA`));
    });
    zip.on('error', fail);
    zip.readEntry();
  });
}

// yauzl reads the central directory one record at a time (46 bytes, then the name): against
// Azure that would be two requests per entry, and torch has ~15,000 entries. Reads are served
// from one window of WINDOW bytes fetched ahead, so walking the directory costs its size / WINDOW
// range requests, and memory stays at one window per open wheel.
const WINDOW = 1024 * 1024;

class BlobRangeReader extends yauzl.RandomAccessReader {
  private window: { start: number; bytes: Buffer } | undefined;

  constructor(
    private readonly store: BlobStore,
    private readonly key: string,
    private readonly size: number,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    // end is exclusive for yauzl, inclusive for ByteRange; yauzl never asks for an empty range here.
    this.store.get(this.key, { start, end: end - 1 }).then(
      (body) => {
        body.on('error', (err) => out.destroy(err));
        body.pipe(out);
      },
      (err: Error) => out.destroy(err),
    );
    return out;
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    const w = this.window;
    if (w && position >= w.start && position + length <= w.start + w.bytes.length) {
      w.bytes.copy(buffer, offset, position - w.start, position - w.start + length);
      setImmediate(() => callback(null, length));
      return;
    }
    const start = position;
    const end = Math.min(this.size, position + Math.max(length, WINDOW));
    const chunks: Buffer[] = [];
    const s = this._readStreamForRange(start, end);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err) => callback(err));
    s.on('end', () => {
      const bytes = Buffer.concat(chunks);
      if (bytes.length < end - start)
        return callback(new Error(`${this.key}: range read ended after ${bytes.length} of ${end - start} bytes`));
      this.window = { start, bytes };
      bytes.copy(buffer, offset, 0, length);
      callback(null, length);
    });
  }
}

/** PKG-INFO of an sdist (.tar.gz), top-level only; undefined when absent. */
export function readSdistPkgInfo(path: string, maxBytes = 4 * 1024 * 1024): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let result: Buffer | undefined;
    const parser = new TarParser({
      onReadEntry: (entry: ReadEntry) => {
        if (!result && /^[^/]+\/PKG-INFO$/.test(entry.path) && entry.size <= maxBytes) {
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => (result = Buffer.concat(chunks)));
        } else {
          entry.resume();
        }
      },
    });
    parser.on('end', () => resolve(result));
    parser.on('error', reject);
    const src = createReadStream(path);
    src.on('error', reject);
    src.pipe(createGunzip()).on('error', reject).pipe(parser);
  });
}
