// Compact in-memory forms of what every catalog record carries many of: sha256 digests, times
// and source URLs. A 300,000-file catalog lives in every replica's heap, so a 64-character hex
// string per digest, a Date object per time and a whole URL per file add up to tens of MiB.
// Each form converts back to exactly the value it was made from: it must never change a digest,
// a time or a URL that a page or a decision shows, only how it is held.

/** Lowercase hex of 32 bytes: the form every digest we write has. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Marks a digest kept as written (not lowercase 64-hex); U+0100 never occurs in a packed (one-byte) digest. */
const AS_WRITTEN = '\u0100';

/**
 * A sha256 as held in memory: its 32 bytes as a 32-character one-byte string (44 bytes of heap
 * instead of 76). Anything but lowercase 64-character hex is kept as written, marked, so that it
 * comes back unchanged and never equals a packed digest.
 */
export function packDigest(hex: string): string {
  return SHA256_HEX.test(hex) ? Buffer.from(hex, 'hex').toString('latin1') : AS_WRITTEN + hex;
}

/** The digest packDigest was given. */
export function unpackDigest(packed: string): string {
  return packed.startsWith(AS_WRITTEN) ? packed.slice(AS_WRITTEN.length) : Buffer.from(packed, 'latin1').toString('hex');
}

/** A time as held in memory: epoch milliseconds (a number, not a Date object); null stays null. */
export function packTime(d: Date | null | undefined): number | null {
  return d ? d.getTime() : null;
}

/** A fresh Date for a packed time (callers may keep or change it without touching the record). */
export function unpackTime(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/**
 * A source URL as held in memory: most end with "/<file name>", the file name the record holds
 * already, so only the part before it is kept (and shared between records through `intern`).
 * `endsWithName` says which form `kept` is in.
 */
export function packUrl(url: string | null, name: string, intern: (s: string) => string): { kept: string | null; endsWithName: boolean } {
  if (url === null || name === '' || !url.endsWith(`/${name}`)) return { kept: url, endsWithName: false };
  return { kept: intern(url.slice(0, url.length - name.length)), endsWithName: true };
}

/** The URL packUrl was given. */
export function unpackUrl(kept: string | null, endsWithName: boolean, name: string): string | null {
  return kept !== null && endsWithName ? kept + name : kept;
}
