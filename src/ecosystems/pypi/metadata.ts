// Core metadata (METADATA / PKG-INFO): reads it out of wheels and sdists and parses the few
// headers Safelist needs. The bytes are kept exactly as found, because PEP 658 `.metadata`
// files must be byte-identical to the wheel's (pip rejects a mismatch).
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { Parser as TarParser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
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
      case 'name': out.name = v; break;
      case 'version': out.version = v; break;
      case 'requires-python': out.requiresPython = v; break;
      case 'requires-dist': out.requiresDist.push(v); break;
      case 'license': out.license ??= v; break;
      case 'license-expression': out.license = v; break;
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

/** The exact bytes of {name}-{version}.dist-info/METADATA inside a wheel. */
export function readWheelMetadata(path: string, distName: string, version: string, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
  const want = normalizeProjectName(distName);
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(new Error(`not a valid wheel (zip): ${err?.message ?? 'unreadable'}`));
      let found = false;
      zip.on('entry', (entry: yauzl.Entry) => {
        const m = /^([^/]+)-([^/-]+)\.dist-info\/METADATA$/.exec(entry.fileName);
        if (!m || normalizeProjectName(m[1]!) !== want || (m[2] !== version && normalizeProjectName(m[2]!) !== normalizeProjectName(version))) {
          zip.readEntry();
          return;
        }
        if (entry.uncompressedSize > maxBytes) return reject(new Error('METADATA is implausibly large'));
        found = true;
        zip.openReadStream(entry, (e2, s) => {
          if (e2 || !s) return reject(e2 ?? new Error('cannot read METADATA'));
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('error', reject);
          s.on('end', () => {
            zip.close();
            resolve(Buffer.concat(chunks));
          });
        });
      });
      zip.on('end', () => {
        if (!found) reject(new Error(`the wheel has no ${distName}-${version}.dist-info/METADATA`));
      });
      zip.on('error', reject);
      zip.readEntry();
    });
  });
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
