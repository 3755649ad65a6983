// Byte-level JSON scanning for the streaming repodata filter: the end of a string, a scalar,
// or an object/array, found without building any value. An unfinished value reports where to
// resume, so a caller can carry only the incomplete tail to the next chunk.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** End (exclusive) of the string starting at buf[i] === '"', or -1 when it is not complete. */
export function stringEnd(buf: Buffer, i: number): number {
  const n = buf.length;
  let j = i + 1;
  while (j < n) {
    const c = buf[j]!;
    if (c === QUOTE) return j + 1;
    j += c === BACKSLASH ? 2 : 1;
  }
  return -1;
}

/** End (exclusive) of a scalar (number, true/false/null) starting at i, or -1 when the buffer ends first. */
export function scalarEnd(buf: Buffer, i: number): number {
  const n = buf.length;
  let j = i;
  while (j < n) {
    const c = buf[j]!;
    if (c === COMMA || c === RBRACE || c === RBRACKET || isSpace(c)) return j;
    j++;
  }
  return -1;
}

/**
 * A 32-bit view of a buffer's memory, for scanning string contents four bytes at a time:
 * most repodata bytes are inside strings, and a word without '"' or '\\' is skipped whole
 * (a classic has-zero-byte test), about three times faster than a byte loop in V8.
 */
export interface WordView {
  words: Int32Array;
  /** buf.byteOffset */
  off: number;
}

export function wordView(buf: Buffer): WordView {
  return { words: new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2), off: buf.byteOffset };
}

/**
 * Scans an object or array from i with `depth` levels already open. Returns the end
 * (exclusive) when it closes, or ~resume when the buffer ends first: resume is where to carry
 * from (the start of an unfinished string, else the buffer end); depthOut[0] gets the depth.
 */
export function compositeEnd(buf: Buffer, wv: WordView, i: number, depth: number, depthOut: number[]): number {
  const n = buf.length;
  const { words, off } = wv;
  const lastWord = (off + n) >> 2;
  while (i < n) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const start = i;
      i++;
      // Inner loop: the bulk of repodata bytes are inside strings.
      for (;;) {
        if (((off + i) & 3) === 0) {
          let j = (off + i) >> 2;
          while (j < lastWord) {
            const x = words[j]!;
            const q = x ^ 0x22222222;
            const b = x ^ 0x5c5c5c5c;
            if ((((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) break;
            j++;
          }
          i = (j << 2) - off;
        }
        if (i >= n) {
          depthOut[0] = depth;
          return ~start;
        }
        const d = buf[i]!;
        if (d === QUOTE) break;
        i += d === BACKSLASH ? 2 : 1;
      }
      i++;
      continue;
    }
    if (c === LBRACE || c === LBRACKET) depth++;
    else if (c === RBRACE || c === RBRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  depthOut[0] = depth;
  return ~n;
}
