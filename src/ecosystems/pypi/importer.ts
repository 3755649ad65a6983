// `safelist import pypi DIR`: puts wheels and sdists found in a folder into storage and the
// catalog (sha256, size, Requires-Python, and the wheel's METADATA kept for PEP 658).
// Imports everything it can read; policy decides later what each view may see. Each file's
// PEP 700 upload time is importedAt(): never later than the import, never a made-up epoch.
import { stat } from 'node:fs/promises';
import { filesUnder, storeBuffer, storeFile } from '../../catalog/ingest.js';
import { z } from 'zod';
import type { BlobStore } from '../../storage/types.js';
import { importDir } from '../import-dir.js';
import type { ImportSpec } from '../types.js';
import type { PypiCatalog, PypiFile } from './catalog.js';
import { parseCoreMetadata, readSdistPkgInfo, readWheelMetadata } from './metadata.js';
import { normalizeProjectName, parseDistFilename } from './names.js';

/** Before this no wheel or sdist was uploaded anywhere: such an mtime is an archive's epoch (0, SOURCE_DATE_EPOCH). */
const PLAUSIBLE_SINCE = Date.UTC(2005, 0, 1);

/**
 * The upload time an imported file carries: the time in its file-system metadata (mtime: what
 * `pip download`, `curl -R`, `cp -p` and tar keep, none earlier than the file's upload) when
 * that is plausible, else the import time. Never later than the import: a file cannot have been
 * published after Safelist received it, and a future time would hold it back for ever.
 */
export function importedAt(mtime: Date, now: Date): Date {
  const t = mtime.getTime();
  if (Number.isNaN(t) || t < PLAUSIBLE_SINCE || t > now.getTime()) return now;
  return mtime;
}

export interface ImportReport {
  imported: Array<{ filename: string; sha256: string; written: boolean }>;
  skipped: Array<{ path: string; reason: string }>;
}

export async function importPypiDir(
  dir: string,
  deps: { store: BlobStore; catalog: PypiCatalog; onProgress?: (line: string) => void; signal?: AbortSignal | undefined },
): Promise<ImportReport> {
  const report: ImportReport = { imported: [], skipped: [] };
  for await (const path of filesUnder(dir)) {
    deps.signal?.throwIfAborted(); // between files: told to stop (its job lost its lock)
    const filename = path.slice(path.lastIndexOf('/') + 1);
    const parsed = parseDistFilename(filename);
    if (!parsed) {
      if (/\.(whl|tar\.gz|zip)$/.test(filename))
        report.skipped.push({ path, reason: 'file name does not follow the wheel or sdist convention' });
      continue;
    }
    try {
      let metadata: Buffer | undefined;
      if (parsed.kind === 'wheel') metadata = await readWheelMetadata(path, parsed.name, parsed.version);
      else if (filename.endsWith('.tar.gz')) metadata = await readSdistPkgInfo(path);
      const meta = metadata ? parseCoreMetadata(metadata) : undefined;
      if (meta?.name && normalizeProjectName(meta.name) !== normalizeProjectName(parsed.name)) {
        report.skipped.push({ path, reason: `METADATA names ${meta.name}, the file name says ${parsed.name}` });
        continue;
      }
      const stored = await storeFile(deps.store, path, filename);
      // Only wheels get a PEP 658 metadata file (sdist metadata may be dynamic).
      const metaStored = parsed.kind === 'wheel' && metadata ? await storeBuffer(deps.store, metadata, `${filename}.metadata`) : undefined;
      const project = normalizeProjectName(parsed.name);
      const existing = deps.catalog.fileByName(project, filename);
      if (existing && existing.sha256 !== stored.sha256) {
        report.skipped.push({
          path,
          reason: `a different ${filename} (sha256 ${existing.sha256}) is already in the catalog; file names are immutable`,
        });
        continue;
      }
      // A re-import keeps the first time (the catalog never replaces a known upload time).
      const uploadTime = importedAt((await stat(path)).mtime, new Date());
      const record: PypiFile = {
        sha256: stored.sha256,
        project,
        displayName: meta?.name ?? parsed.name,
        version: meta?.version ?? parsed.version,
        filename,
        size: stored.size,
        requiresPython: meta?.requiresPython ?? null,
        uploadTime,
        yanked: null,
        metadataSha256: metaStored?.sha256 ?? null,
        stored: true,
        metadataStored: metaStored !== undefined,
        source: 'import',
        sourceUrl: null,
      };
      await deps.catalog.upsert([record]);
      report.imported.push({ filename, sha256: stored.sha256, written: stored.written });
      deps.onProgress?.(`${stored.written ? 'imported' : 'present '} ${filename}`);
    } catch (err) {
      report.skipped.push({ path, reason: (err as Error).message });
    }
  }
  return report;
}

/** The `import:pypi` job: every distribution file under an absolute folder of the machine running it. */
export const pypiImportSpec: ImportSpec = {
  params: z.strictObject({ dir: importDir }),
  fromArgs: (dir) => ({ dir }),
  auditDetail: (r, p) => ({ dir: p.dir, imported: r.imported.length, skipped: r.skipped.length, files: r.imported.map((f) => f.filename) }),
  summary: (r) => ({ imported: r.imported.length, skipped: r.skipped.length }),
  usage: 'safelist import pypi DIR',
};
