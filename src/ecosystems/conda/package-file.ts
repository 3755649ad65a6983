// Reads what Safelist needs out of a conda package file: info/index.json (name, version,
// build, depends, subdir...) from a .conda (zip holding info-*.tar.zst, read with yauzl and
// fzstd) or a .tar.bz2 (read with seek-bzip and tar). Hashes are computed from the file, never
// taken from inside it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { decompress as zstdDecompress } from 'fzstd';
import Bunzip from 'seek-bzip';
import { Parser } from 'tar';
import yauzl from 'yauzl';
import { checkRecord, type CondaRecordFields } from './record.js';

export class PackageFileError extends Error {
  readonly code = 'CONDA_PACKAGE_INVALID';
}

/** The contents of one file inside a tar archive held in memory, or undefined. */
async function fileInTar(tarBytes: Buffer, path: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let found: Buffer | undefined;
    const parser = new Parser({
      onReadEntry(entry) {
        if (entry.path.replace(/^\.\//, '') === path) {
          const parts: Buffer[] = [];
          entry.on('data', (d: Buffer) => parts.push(d));
          entry.on('end', () => (found = Buffer.concat(parts)));
        } else entry.resume();
      },
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(found));
    parser.end(tarBytes);
  });
}

async function infoTarOfConda(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(new PackageFileError(`not a .conda (zip) file: ${err?.message ?? 'unreadable'}`));
      let done = false;
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!/^info-.*\.tar\.zst$/.test(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new PackageFileError('cannot read the info archive'));
          const parts: Buffer[] = [];
          stream.on('data', (d: Buffer) => parts.push(d));
          stream.on('error', reject);
          stream.on('end', () => {
            done = true;
            zip.close();
            try {
              resolve(Buffer.from(zstdDecompress(Buffer.concat(parts))));
            } catch (ze) {
              reject(new PackageFileError(`the info archive is not valid zstd: ${(ze as Error).message}`));
            }
          });
        });
      });
      zip.on('end', () => {
        if (!done) reject(new PackageFileError('no info-*.tar.zst inside; not a conda package'));
      });
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** info/index.json of a package file, type-checked. */
export async function readIndexJson(path: string): Promise<CondaRecordFields> {
  let tarBytes: Buffer;
  if (path.endsWith('.conda')) tarBytes = await infoTarOfConda(path);
  else if (path.endsWith('.tar.bz2')) {
    try {
      tarBytes = Bunzip.decode(await readFile(path));
    } catch (err) {
      throw new PackageFileError(`not a bzip2 file: ${(err as Error).message}`);
    }
  } else throw new PackageFileError('conda packages end in .conda or .tar.bz2');
  const index = await fileInTar(tarBytes, 'info/index.json');
  if (!index) throw new PackageFileError('info/index.json is missing; not a conda package');
  let parsed: unknown;
  try {
    parsed = JSON.parse(index.toString('utf8'));
  } catch (err) {
    throw new PackageFileError(`info/index.json is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new PackageFileError('info/index.json is not an object');
  const problem = checkRecord(parsed as Record<string, unknown>);
  if (problem) throw new PackageFileError(`info/index.json: ${problem}`);
  const rec = parsed as CondaRecordFields;
  rec.depends ??= [];
  rec.build_number ??= 0;
  return rec;
}

/** sha256, md5 and size of a file in one read. */
export async function hashFile(path: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}
