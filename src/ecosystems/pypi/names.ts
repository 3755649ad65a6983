// PyPI names and file names: PEP 503 normalisation, the PEP 508 name rule, and how a
// distribution file name splits into project and version (wheel and sdist conventions).
// Never trusts a file name it cannot parse: callers get undefined and refuse the file.

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export function checkProjectName(name: string): string | undefined {
  if (name.length === 0) return 'a project name is required';
  if (name.length > 200) return 'a project name is at most 200 characters';
  if (!VALID_NAME.test(name)) return `"${name}" is not a valid project name: letters, digits, and . _ - inside (PEP 508)`;
  return undefined;
}

export interface ParsedFilename {
  kind: 'wheel' | 'sdist';
  /** Name as spelled in the file name. */
  name: string;
  version: string;
}

const SDIST_EXT = ['.tar.gz', '.zip', '.tar.bz2', '.tgz', '.tar.xz'];

/** A safe distribution file name: no separators, no control characters, sensible length. */
export function isSafeFilename(filename: string): boolean {
  return filename.length > 0 && filename.length <= 255 && /^[A-Za-z0-9][A-Za-z0-9._+!-]*$/.test(filename) && !filename.includes('..');
}

export function parseDistFilename(filename: string): ParsedFilename | undefined {
  if (!isSafeFilename(filename)) return undefined;
  if (filename.endsWith('.whl')) {
    // {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl
    const parts = filename.slice(0, -4).split('-');
    if (parts.length !== 5 && parts.length !== 6) return undefined;
    return { kind: 'wheel', name: parts[0]!, version: parts[1]! };
  }
  const ext = SDIST_EXT.find((e) => filename.endsWith(e));
  if (!ext) return undefined;
  const stem = filename.slice(0, -ext.length);
  // The version is what follows the last '-' whose next character is a digit (or 'v').
  const m = /^(.+?)-(\d[^-]*|v\d[^-]*)$/.exec(stem);
  if (!m) return undefined;
  return { kind: 'sdist', name: m[1]!, version: m[2]! };
}
