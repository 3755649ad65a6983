// The streaming repodata filter: reads an upstream repodata.json of any size (conda-forge's
// linux-64 is hundreds of MB) chunk by chunk and keeps only the records of wanted package
// names, with memory bounded by the chunk size, the largest single record and what is kept,
// never by the upstream's size. Kept records are parsed and type-checked; everything else is
// only bracket-matched and dropped. Malformed input (truncated, wrong types) ends in a
// RepodataFormatError that says where and what; callers then keep serving the last good data.
//
// Why a focused scanner instead of a general streaming JSON tokenizer (@streamparser/json and
// the like): those build a token and a JS value for every string and number of every record,
// which runs at tens of MB/s; here 99% of the bytes belong to records that are skipped, and a
// skip only tracks strings and nesting depth, four bytes at a time inside strings. Only the
// top level and each record's key are tokenized; kept records go through JSON.parse.
import { checkRecord, type CondaRecordFields, type KeptRecord, type RecordKind } from './record.js';
import { compositeEnd, scalarEnd, stringEnd, wordView } from './json-scan.js';

export type { CondaRecordFields, KeptRecord, RecordKind } from './record.js';
export { checkRecord } from './record.js';

export class RepodataFormatError extends Error {
  readonly code = 'REPODATA_INVALID';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}

export interface FilterResult {
  info: Record<string, unknown> | undefined;
  /** File names in the upstream's "removed" list whose package name is wanted. */
  removed: string[];
  repodataVersion: number | undefined;
  /** The kept records, unless FilterOptions.onRecord took them one by one. */
  records: KeptRecord[];
  /** Records of wanted names that were dropped, with the reason (no sha256, inconsistent name). */
  dropped: Array<{ filename: string; reason: string }>;
  seen: number;
  bytes: number;
  /** The most bytes ever held over between chunks: bounded by the largest record, not the input. */
  maxCarry: number;
}

export interface FilterOptions {
  /** Cheap first test on the package name (lower-case), taken from the file name. */
  wantName(name: string): boolean;
  /** Full test on a parsed, type-checked record (policy); default keeps every wanted name. */
  keep?(r: KeptRecord): boolean;
  /**
   * Takes each kept record as soon as it is checked, instead of result.records: a caller that
   * turns records into something smaller never holds every parsed record at once.
   */
  onRecord?(r: KeptRecord): void;
  /** info.subdir, when present, must be this. */
  subdir?: string;
  /** Largest accepted single record (and top-level value that is kept), in bytes. */
  maxRecordBytes?: number;
  /** Where the data came from, for messages. */
  source?: string;
}

/** How much of the next chunk is joined to a carried token to finish it. */
const HEAD_BYTES = 64 * 1024;

// Local copies, not imports: V8 reads an imported binding through a module cell with a
// hole check on every use, which costs a third of the filter's speed in its byte loops.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

const enum S {
  RootOpen,
  RootKeyOrEnd,
  RootKey,
  RootColon,
  RootValue,
  RootAfterValue,
  PkgOpen,
  PkgKeyOrEnd,
  PkgKey,
  PkgColon,
  PkgValue,
  PkgAfterValue,
  SkipValue,
  RemovedItemOrEnd,
  RemovedItem,
  RemovedAfterItem,
  End,
}

/** The package name part of a conda file name: name-version-build.ext. */
function nameOfFilename(fn: string): string | undefined {
  const b = fn.lastIndexOf('-');
  if (b <= 0) return undefined;
  const v = fn.lastIndexOf('-', b - 1);
  if (v <= 0) return undefined;
  return fn.slice(0, v);
}

export class RepodataFilter {
  private state = S.RootOpen;
  private carry: Buffer | undefined;
  /** Absolute offset of carry/buffer start, for messages. */
  private base = 0;
  private rootKey = '';
  private pkgKind: RecordKind = 'packages';
  private pkgKey = '';
  private pkgKeyWanted = false;
  private skipDepth = 0;
  private skipReturn = S.RootAfterValue;
  private readonly depthOut = [0];
  private readonly maxRecord: number;
  private readonly seenKeys = new Set<string>();
  readonly result: FilterResult = {
    info: undefined,
    removed: [],
    repodataVersion: undefined,
    records: [],
    dropped: [],
    seen: 0,
    bytes: 0,
    maxCarry: 0,
  };

  constructor(private readonly opts: FilterOptions) {
    this.maxRecord = opts.maxRecordBytes ?? 4 * 1024 * 1024;
  }

  private fail(message: string, at: number): never {
    throw new RepodataFormatError(`${this.opts.source ? `${this.opts.source}: ` : ''}${message}`, this.base + at);
  }

  private keyText(buf: Buffer, start: number, end: number): string {
    // Keys are plain ASCII file names in practice; escaped ones are decoded properly.
    for (let i = start + 1; i < end - 1; i++)
      if (buf[i] === BACKSLASH || buf[i]! >= 0x80) return JSON.parse(buf.toString('utf8', start, end)) as string;
    return buf.toString('latin1', start + 1, end - 1);
  }

  push(chunk: Buffer): void {
    this.result.bytes += chunk.length;
    let buf = chunk;
    let stop: number;
    const carry = this.carry;
    this.carry = undefined;
    if (carry && carry.length) {
      // Finish the carried token on the carry plus the head of the chunk, then go on in the
      // chunk itself: copying every chunk behind the carry would cost a full copy of the input.
      const headLen = Math.min(chunk.length, HEAD_BYTES);
      const head = Buffer.concat([carry, chunk.subarray(0, headLen)]);
      const headStop = this.run(head, 0);
      if (headStop >= carry.length) {
        this.base += carry.length;
        stop = this.run(chunk, headStop - carry.length);
      } else if (headLen === chunk.length) {
        buf = head;
        stop = headStop;
      } else {
        // A token longer than the head: join what is left of it with the whole chunk.
        this.base += headStop;
        buf = Buffer.concat([head.subarray(headStop, carry.length), chunk]);
        stop = this.run(buf, 0);
      }
    } else {
      stop = this.run(chunk, 0);
    }
    if (stop < buf.length) {
      if (buf.length - stop > this.maxRecord)
        this.fail(`a single value is larger than ${this.maxRecord} bytes (conda.maxRecordBytes)`, stop);
      // Copy: the carry must not pin the whole chunk it came from.
      this.carry = Buffer.from(buf.subarray(stop));
      if (this.carry.length > this.result.maxCarry) this.result.maxCarry = this.carry.length;
    }
    this.base += stop;
  }

  /** Processes buf from `start`; returns where the unprocessed (incomplete) part starts. */
  private run(buf: Buffer, start: number): number {
    const n = buf.length;
    const wv = wordView(buf);
    let i = start;
    for (;;) {
      // Whitespace between tokens (not inside values being skipped).
      if (this.state !== S.SkipValue) {
        while (i < n && isSpace(buf[i]!)) i++;
        if (i >= n) return i;
      }
      const c = buf[i]!;
      switch (this.state) {
        case S.RootOpen:
          if (c !== LBRACE) this.fail('repodata must be a JSON object', i);
          i++;
          this.state = S.RootKeyOrEnd;
          break;
        case S.RootKeyOrEnd:
          if (c === RBRACE) {
            i++;
            this.state = S.End;
            break;
          }
          this.state = S.RootKey;
          break;
        case S.RootKey: {
          if (c !== QUOTE) this.fail('expected a key in the top-level object', i);
          const e = stringEnd(buf, i);
          if (e < 0) return i;
          this.rootKey = this.keyText(buf, i, e);
          i = e;
          this.state = S.RootColon;
          break;
        }
        case S.RootColon:
          if (c !== COLON) this.fail(`expected ":" after "${this.rootKey}"`, i);
          i++;
          this.state = S.RootValue;
          break;
        case S.RootValue: {
          const k = this.rootKey;
          if (k === 'packages' || k === 'packages.conda') {
            if (c !== LBRACE) this.fail(`"${k}" must be an object mapping file names to records`, i);
            this.pkgKind = k;
            i++;
            this.state = S.PkgKeyOrEnd;
            break;
          }
          if (k === 'info' || k === 'repodata_version') {
            const e =
              c === LBRACE || c === LBRACKET
                ? compositeEnd(buf, wv, i, 0, this.depthOut)
                : c === QUOTE
                  ? stringEnd(buf, i)
                  : scalarEnd(buf, i);
            if (e < 0) return i;
            let v: unknown;
            try {
              v = JSON.parse(buf.toString('utf8', i, e));
            } catch {
              this.fail(`"${k}" is not valid JSON`, i);
            }
            if (k === 'info') {
              if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail('"info" must be an object', i);
              const info = v as Record<string, unknown>;
              if (info.subdir !== undefined && typeof info.subdir !== 'string') this.fail('"info.subdir" must be a string', i);
              if (this.opts.subdir && typeof info.subdir === 'string' && info.subdir !== this.opts.subdir) {
                this.fail(`this is the repodata of subdir ${info.subdir}, expected ${this.opts.subdir}`, i);
              }
              this.result.info = info;
            } else {
              if (typeof v !== 'number' || !Number.isInteger(v)) this.fail('"repodata_version" must be an integer', i);
              this.result.repodataVersion = v;
            }
            i = e;
            this.state = S.RootAfterValue;
            break;
          }
          if (k === 'removed') {
            // Read one file name at a time: the list can be long, and only wanted names matter.
            if (c !== LBRACKET) this.fail('"removed" must be a list of file names', i);
            i++;
            this.state = S.RemovedItemOrEnd;
            break;
          }
          // Anything else ("signatures", future keys) is skipped.
          if (c === LBRACE || c === LBRACKET) {
            this.skipDepth = 0;
            this.skipReturn = S.RootAfterValue;
            this.state = S.SkipValue;
            break;
          }
          const e = c === QUOTE ? stringEnd(buf, i) : scalarEnd(buf, i);
          if (e < 0) return i;
          i = e;
          this.state = S.RootAfterValue;
          break;
        }
        case S.RootAfterValue:
          if (c === COMMA) {
            i++;
            this.state = S.RootKey;
          } else if (c === RBRACE) {
            i++;
            this.state = S.End;
          } else this.fail(`expected "," or "}" after the value of "${this.rootKey}"`, i);
          break;
        case S.PkgKeyOrEnd:
          if (c === RBRACE) {
            i++;
            this.state = S.RootAfterValue;
            break;
          }
          this.state = S.PkgKey;
          break;
        case S.PkgKey: {
          if (c !== QUOTE) this.fail(`expected a file name key in "${this.pkgKind}"`, i);
          const e = stringEnd(buf, i);
          if (e < 0) return i;
          this.pkgKey = this.keyText(buf, i, e);
          this.result.seen++;
          const name = nameOfFilename(this.pkgKey);
          this.pkgKeyWanted = name !== undefined && (this.opts.wantName(name) || this.opts.wantName(name.toLowerCase()));
          i = e;
          this.state = S.PkgColon;
          break;
        }
        case S.PkgColon:
          if (c !== COLON) this.fail(`expected ":" after "${this.pkgKey}"`, i);
          i++;
          this.state = S.PkgValue;
          break;
        case S.PkgValue: {
          if (c !== LBRACE) this.fail(`the record of "${this.pkgKey}" in "${this.pkgKind}" must be an object`, i);
          if (!this.pkgKeyWanted) {
            this.skipDepth = 0;
            this.skipReturn = S.PkgAfterValue;
            this.state = S.SkipValue;
            break;
          }
          const e = compositeEnd(buf, wv, i, 0, this.depthOut);
          if (e < 0) return i;
          this.keepRecord(buf, i, e);
          i = e;
          this.state = S.PkgAfterValue;
          break;
        }
        case S.PkgAfterValue:
          if (c === COMMA) {
            i++;
            this.state = S.PkgKey;
          } else if (c === RBRACE) {
            i++;
            this.state = S.RootAfterValue;
          } else this.fail(`expected "," or "}" after the record of "${this.pkgKey}"`, i);
          break;
        case S.RemovedItemOrEnd:
          if (c === RBRACKET) {
            i++;
            this.state = S.RootAfterValue;
            break;
          }
          this.state = S.RemovedItem;
          break;
        case S.RemovedItem: {
          if (c !== QUOTE) this.fail('"removed" must be a list of file names', i);
          const e = stringEnd(buf, i);
          if (e < 0) return i;
          const fn = this.keyText(buf, i, e);
          const name = nameOfFilename(fn);
          if (name !== undefined && (this.opts.wantName(name) || this.opts.wantName(name.toLowerCase()))) this.result.removed.push(fn);
          i = e;
          this.state = S.RemovedAfterItem;
          break;
        }
        case S.RemovedAfterItem:
          if (c === COMMA) {
            i++;
            this.state = S.RemovedItem;
          } else if (c === RBRACKET) {
            i++;
            this.state = S.RootAfterValue;
          } else this.fail('expected "," or "]" in "removed"', i);
          break;
        case S.SkipValue: {
          const e = compositeEnd(buf, wv, i, this.skipDepth, this.depthOut);
          if (e < 0) {
            this.skipDepth = this.depthOut[0]!;
            return ~e;
          }
          i = e;
          this.state = this.skipReturn;
          break;
        }
        case S.End:
          this.fail('unexpected data after the end of the repodata object', i);
      }
    }
  }

  private keepRecord(buf: Buffer, start: number, end: number): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf.toString('utf8', start, end));
    } catch (err) {
      this.fail(`the record of "${this.pkgKey}" is not valid JSON: ${(err as Error).message}`, start);
    }
    const rec = parsed as Record<string, unknown>;
    const problem = checkRecord(rec);
    if (problem) this.fail(`the record of "${this.pkgKey}" in "${this.pkgKind}" is invalid: ${problem}`, start);
    const record = rec as CondaRecordFields;
    record.depends ??= [];
    record.build_number ??= 0;
    const fn = this.pkgKey;
    const key = `${this.pkgKind}\0${fn}`;
    if (this.seenKeys.has(key)) this.fail(`"${fn}" appears twice in "${this.pkgKind}"`, start);
    this.seenKeys.add(key);
    const ext = this.pkgKind === 'packages.conda' ? '.conda' : '.tar.bz2';
    if (fn !== `${record.name}-${record.version}-${record.build}${ext}`) {
      this.result.dropped.push({
        filename: fn,
        reason: `the file name does not match its record (${record.name} ${record.version} ${record.build}${ext})`,
      });
      return;
    }
    if (!record.sha256) {
      this.result.dropped.push({ filename: fn, reason: 'the record has no sha256, so its file cannot be verified' });
      return;
    }
    const kept: KeptRecord = { filename: fn, kind: this.pkgKind, record };
    if (this.opts.keep && !this.opts.keep(kept)) return;
    if (this.opts.onRecord) this.opts.onRecord(kept);
    else this.result.records.push(kept);
  }

  /** Call after the last chunk: fails when the input ended before the repodata object did. */
  end(): FilterResult {
    const rest = this.carry ?? Buffer.alloc(0);
    let i = 0;
    while (i < rest.length && isSpace(rest[i]!)) i++;
    if (this.state !== S.End || i < rest.length) {
      const inPackages =
        (this.state >= S.PkgOpen && this.state <= S.PkgAfterValue) || (this.state === S.SkipValue && this.skipReturn === S.PkgAfterValue);
      const where =
        this.state === S.RootOpen
          ? 'the input is empty'
          : inPackages
            ? `inside "${this.pkgKind}"`
            : 'before the end of the top-level object';
      this.fail(`the repodata is truncated: it ended ${where}`, rest.length);
    }
    return this.result;
  }
}

/** Filters a stream of repodata bytes (file, HTTP body). */
export async function filterRepodata(source: AsyncIterable<Buffer | Uint8Array | string>, opts: FilterOptions): Promise<FilterResult> {
  const f = new RepodataFilter(opts);
  for await (const chunk of source)
    f.push(
      typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
  return f.end();
}
