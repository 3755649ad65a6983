// For `safelist why` and its API alike: an allowed name that is not mirrored gets the files the
// last sync of its ecosystem refused (from that sync's audit record), so both say the same thing
// ("the last sync refused corrupt_pkg-1.0-py3-none-any.whl (sha256 mismatch)"). Which file
// belongs to which name is the ecosystem module's to say (names.fileOf). Read-only: it never
// changes the explanation's status, only adds what the trail says.
import { withSyncFailures, type Explanation } from '../policy/explain.js';
import type { AuditLog } from './log.js';

/** The explanation, with the last sync's refused files of this name when it is not mirrored. */
export async function explainSyncFailures(
  e: Explanation,
  audit: Pick<AuditLog, 'latest'>,
  fileOf: (name: string, filename: string) => boolean,
): Promise<Explanation> {
  if (e.status !== 'not-mirrored') return e;
  const last = await audit.latest('sync.finished', e.ecosystem);
  return withSyncFailures(e, last?.detail.failed, (f) => fileOf(e.name, f));
}
