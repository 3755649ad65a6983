// Progress lines for long CLI operations: one line per event on stderr, so stdout stays
// machine-readable (JSON reports) when a command is piped.
import type { SyncEvent } from '../ecosystems/types.js';

function mb(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

function projectLine(e: Extract<SyncEvent, { type: 'project' }>): string {
  if (e.upstream) return `${e.files} upstream file(s) on ${e.upstream}, ${e.toFetch} to fetch`;
  return e.error ? `NOT SYNCED: ${e.error}` : 'not found on any upstream';
}

export function printSyncEvent(e: SyncEvent, out: NodeJS.WritableStream = process.stderr): void {
  switch (e.type) {
    case 'project':
      out.write(`[${e.index}/${e.total}] ${e.name}: ${projectLine(e)}\n`);
      break;
    case 'fetched':
      out.write(`  ${e.written ? 'stored ' : 'present'} ${e.filename} (${mb(e.size)})\n`);
      break;
    case 'failed':
      out.write(`  FAILED  ${e.filename}: ${e.error}\n`);
      break;
    case 'warning':
      out.write(`  warning: ${e.message}\n`);
      break;
  }
}
