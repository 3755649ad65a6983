// The gate's contents matcher for Python distributions installed in an image: every installed
// form counts, wherever it sits (site-packages, dist-packages, a venv, a --target folder):
// `*.dist-info/METADATA` (wheels), `*.egg-info/PKG-INFO` (setuptools, pip install of an sdist), a
// bare `*.egg-info` FILE (distutils and old setuptools write PKG-INFO headers into one file),
// `*.egg/EGG-INFO/PKG-INFO` (unzipped eggs) and zipped `*.egg` files in site-/dist-packages.
// Name and version come from the Name:/Version: headers; the file name only stands in where they
// are missing (and for zipped eggs, which are not opened). It must never report a record it
// could not name.
import type { ContentsMatcher, FoundName } from '../types.js';
import { parseCoreMetadata } from './metadata.js';

/** Python metadata files: the record's own path, and the distribution's folder or file. */
const PY_METADATA = /(^|\/)([^/]+)\.(dist-info\/METADATA|egg-info\/PKG-INFO|egg\/EGG-INFO\/PKG-INFO|egg-info)$/;
/** A zipped egg, identified by its file name (the zip is not opened). */
const ZIPPED_EGG = /(^|\/)(site|dist)-packages\/([^/]+)\.egg$/;
/** Entries whose replacement by another type (file ↔ directory) removes a package record. */
const DIST_PATH = /\.(dist-info|egg-info|egg)$/;

/**
 * Name and version from a distribution's folder or file name (`name-version.dist-info`,
 * `name-version-py3.11.egg-info`, `name.egg-info`); a stand-in for missing headers.
 */
export function distributionFromPath(stem: string): { name: string; version?: string } {
  const [name, version] = stem.split('-');
  return { name: name!, ...(version ? { version } : {}) };
}

export const pypiContents: ContentsMatcher = {
  match(path) {
    const egg = ZIPPED_EGG.exec(path);
    if (egg) {
      const d = distributionFromPath(egg[3]!);
      return { name: d.name, version: d.version ?? '' };
    }
    return PY_METADATA.test(path) ? { read: true } : undefined;
  },
  parse(path, head): FoundName | undefined {
    const py = PY_METADATA.exec(path);
    if (!py) return undefined;
    const m = parseCoreMetadata(head);
    const named = distributionFromPath(py[2]!);
    const name = m.name || named.name;
    return name ? { name, version: m.version || named.version || '' } : undefined;
  },
  isRecordPath: (path) => DIST_PATH.test(path.slice(path.lastIndexOf('/') + 1)),
};
