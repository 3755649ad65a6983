// `safelist import conda DIR`: puts conda packages found in a folder (.conda, .tar.bz2) into
// storage and the catalog of one channel, with the repodata record built from the package's
// own info/index.json plus the file's sha256, md5 and size. Policy decides later what each
// view may see.
import { filesUnder, storeFile } from '../../catalog/ingest.js';
import { z } from 'zod';
import type { BlobStore } from '../../storage/types.js';
import { importDir } from '../import-dir.js';
import type { ImportSpec } from '../types.js';
import { packageFromRecord, type CondaCatalog, type CondaPackage } from './catalog.js';
import { isCondaSubdir } from './index.js';
import { hashFile, readIndexJson } from './package-file.js';

export interface CondaImportReport {
  imported: Array<{ filename: string; subdir: string; sha256: string; written: boolean }>;
  skipped: Array<{ path: string; reason: string }>;
}

export async function importCondaDir(
  dir: string,
  deps: { store: BlobStore; catalog: CondaCatalog; channel: string; onProgress?: (line: string) => void; signal?: AbortSignal | undefined },
): Promise<CondaImportReport> {
  const report: CondaImportReport = { imported: [], skipped: [] };
  const records: CondaPackage[] = [];
  for await (const path of filesUnder(dir)) {
    deps.signal?.throwIfAborted(); // between files: told to stop (its job lost its lock)
    const filename = path.slice(path.lastIndexOf('/') + 1);
    if (!filename.endsWith('.conda') && !filename.endsWith('.tar.bz2')) continue;
    try {
      const index = await readIndexJson(path);
      const ext = filename.endsWith('.conda') ? '.conda' : '.tar.bz2';
      if (filename !== `${index.name}-${index.version}-${index.build}${ext}`) {
        report.skipped.push({
          path,
          reason: `info/index.json says ${index.name} ${index.version} ${index.build}; the file name must be ${index.name}-${index.version}-${index.build}${ext}`,
        });
        continue;
      }
      const subdir = index.subdir ?? (index.noarch ? 'noarch' : undefined);
      if (!subdir || !isCondaSubdir(subdir)) {
        report.skipped.push({ path, reason: `info/index.json has no valid subdir (${String(index.subdir)})` });
        continue;
      }
      const hashes = await hashFile(path);
      const existing = deps.catalog.subdir(deps.channel, subdir)?.packages.get(filename);
      if (existing && existing.sha256 !== hashes.sha256) {
        report.skipped.push({
          path,
          reason: `a different ${filename} (sha256 ${existing.sha256}) is already in ${deps.channel}/${subdir}; file names are immutable`,
        });
        continue;
      }
      const stored = await storeFile(deps.store, path, filename);
      const record = { ...index, subdir, sha256: hashes.sha256, md5: hashes.md5, size: hashes.size };
      records.push(packageFromRecord(deps.channel, subdir, filename, record, { stored: true, source: 'import', sourceUrl: null }));
      report.imported.push({ filename, subdir, sha256: hashes.sha256, written: stored.written });
      deps.onProgress?.(`${stored.written ? 'imported' : 'present '} ${deps.channel}/${subdir}/${filename}`);
    } catch (err) {
      report.skipped.push({ path, reason: (err as Error).message });
    }
  }
  if (records.length) await deps.catalog.upsert(records);
  return report;
}

/** The `import:conda` job: every package file under an absolute folder, into one channel (default: the first configured). */
export const condaImportSpec: ImportSpec = {
  params: z.strictObject({ dir: importDir, channel: z.string().min(1).max(200).optional() }),
  fromArgs: (dir, options) => ({ dir, ...(options.channel ? { channel: options.channel } : {}) }),
  auditDetail: (r, p) => ({
    dir: p.dir,
    channel: (r as { channel?: string }).channel ?? p.channel,
    imported: r.imported.length,
    skipped: r.skipped.length,
    files: r.imported.map((f) => f.filename),
  }),
  summary: (r) => ({ channel: (r as { channel?: string }).channel, imported: r.imported.length, skipped: r.skipped.length }),
  usage: 'safelist import conda DIR [--channel NAME]',
};
