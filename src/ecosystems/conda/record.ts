// A conda repodata record: the fields Safelist relies on, and their type check. Shared by the
// streaming filter (upstream repodata) and the importer (a package's info/index.json).

export type RecordKind = 'packages' | 'packages.conda';

/** The fields of a repodata record that Safelist relies on, type-checked. The rest is kept as is. */
export interface CondaRecordFields {
  name: string;
  version: string;
  build: string;
  build_number: number;
  subdir?: string;
  depends: string[];
  constrains?: string[];
  sha256?: string;
  md5?: string;
  size?: number;
  timestamp?: number;
  [key: string]: unknown;
}

export interface KeptRecord {
  filename: string;
  kind: RecordKind;
  record: CondaRecordFields;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Type-checks a parsed record; returns an error message or undefined. */
export function checkRecord(r: Record<string, unknown>): string | undefined {
  if (typeof r.name !== 'string' || r.name === '') return '"name" must be a non-empty string';
  if (typeof r.version !== 'string' || r.version === '') return '"version" must be a non-empty string';
  if (typeof r.build !== 'string') return '"build" must be a string';
  if (r.build_number !== undefined && (typeof r.build_number !== 'number' || !Number.isInteger(r.build_number) || r.build_number < 0)) {
    return '"build_number" must be a non-negative integer';
  }
  if (r.depends !== undefined && !isStringArray(r.depends)) return '"depends" must be a list of strings';
  if (r.constrains !== undefined && !isStringArray(r.constrains)) return '"constrains" must be a list of strings';
  if (r.sha256 !== undefined && (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)))
    return '"sha256" must be 64 lower-case hex digits';
  if (r.md5 !== undefined && (typeof r.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(r.md5))) return '"md5" must be 32 lower-case hex digits';
  if (r.size !== undefined && (typeof r.size !== 'number' || !Number.isInteger(r.size) || r.size < 0))
    return '"size" must be a non-negative integer';
  if (r.subdir !== undefined && typeof r.subdir !== 'string') return '"subdir" must be a string';
  if (r.timestamp !== undefined && typeof r.timestamp !== 'number') return '"timestamp" must be a number';
  return undefined;
}
