// The gate's contents matcher for conda packages installed in an image: `conda-meta/*.json`,
// one record per installed package, name and version read from the JSON (or, for a record too
// long to read whole or not JSON, from the file name `name-version-build.json`). It must never
// report a record it could not name.
import type { ContentsMatcher, FoundName } from '../types.js';

const CONDA_META = /(^|\/)conda-meta\/([^/]+)\.json$/;

/** Name and version from a conda-meta file name `name-version-build.json` (names may hold dashes). */
function condaFromPath(stem: string): FoundName | undefined {
  const parts = stem.split('-');
  return parts.length >= 3 ? { name: parts.slice(0, -2).join('-'), version: parts.at(-2)! } : undefined;
}

export const condaContents: ContentsMatcher = {
  match: (path) => (CONDA_META.test(path) ? { read: true } : undefined),
  parse(path, head) {
    const m = CONDA_META.exec(path);
    if (!m) return undefined;
    let j: { name?: unknown; version?: unknown } = {};
    try {
      j = JSON.parse(head.toString('utf8')) as typeof j;
    } catch {
      /* a record longer than the head read, or not JSON: the file name says which package */
    }
    return typeof j.name === 'string' && typeof j.version === 'string' ? { name: j.name, version: j.version } : condaFromPath(m[2]!);
  },
};
