// For `safelist why` and its API alike: an allowed name that is not mirrored gets the files the
// last sync of its ecosystem refused (from that sync's audit record), so both say the same thing
// ("the last sync refused corrupt_pkg-1.0-py3-none-any.whl (sha256 mismatch)"). Read-only: it
// never changes the explanation's status, only adds what the trail says.
import { normalizeProjectName, parseDistFilename } from '../ecosystems/pypi/names.js';
import { withSyncFailures, type Explanation } from '../policy/explain.js';
import type { Ecosystem } from '../policy/types.js';
import type { AuditLog } from './log.js';

/** The explanation, with the last sync's refused files of this name when it is not mirrored. */
export async function explainSyncFailures(e: Explanation, audit: Pick<AuditLog, 'latest'>): Promise<Explanation> {
  if (e.status !== 'not-mirrored') return e;
  const last = await audit.latest('sync.finished', e.ecosystem);
  return withSyncFailures(e, last?.detail.failed, (f) => fileOf(e.ecosystem, e.name, f));
}

/** Does a file name in a sync report (or its "project/" entry for a project that failed whole) belong to this name? */
function fileOf(ecosystem: Ecosystem, name: string, filename: string): boolean {
  if (ecosystem === 'pypi') {
    if (filename.endsWith('/')) return normalizeProjectName(filename.slice(0, -1)) === name;
    const parsed = parseDistFilename(filename);
    return parsed !== undefined && normalizeProjectName(parsed.name) === name;
  }
  // conda: name-version-build.ext, where the name may itself hold dashes.
  if (ecosystem === 'conda')
    return (
      filename
        .replace(/\.(conda|tar\.bz2)$/, '')
        .split('-')
        .slice(0, -2)
        .join('-') === name
    );
  return filename === name || filename.startsWith(`${name}:`) || filename.startsWith(`${name}@`);
}
