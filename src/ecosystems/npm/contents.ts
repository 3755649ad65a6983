// The gate's contents matcher for npm packages installed in an image: the package.json directly
// inside `node_modules/<name>/` or `node_modules/@scope/<name>/`, at any depth (nested
// node_modules, global /usr/local/lib/node_modules, npm's own bundled packages). The name and
// version come from the file itself, not the folder: `npm install x@npm:other` installs `other`
// under node_modules/x, and it is `other` that the policy must judge.
// It must never take a package.json deeper inside a package (a fixture, a sub-export's
// manifest) for an installed package, and never decide anything itself.
import type { ContentsMatcher, FoundName } from '../types.js';

/** A package's own manifest: node_modules/<name>/package.json or node_modules/@scope/<name>/package.json. */
export const NPM_PACKAGE_JSON = /(^|\/)node_modules\/((?:@[^/.][^/]*\/)?[^/.@][^/]*)\/package\.json$/;

/**
 * Name and version of an installed package from its package.json bytes; the folder's name and
 * an empty version stand in when the file is not JSON or names neither (an empty version is
 * allowed by no policy range, so such a package is reported, not passed).
 */
export function installedNpmPackage(folderName: string, bytes: Buffer): FoundName {
  let manifest: { name?: unknown; version?: unknown } = {};
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object') manifest = parsed as typeof manifest;
  } catch {
    // Not JSON (or cut at the read limit): the folder says which package it is.
  }
  const name = typeof manifest.name === 'string' && manifest.name ? manifest.name : folderName;
  const version = typeof manifest.version === 'string' ? manifest.version : '';
  return { name, version };
}

export const npmContents: ContentsMatcher = {
  match: (path) => (NPM_PACKAGE_JSON.test(path) ? { read: true } : undefined),
  parse(path, head) {
    const m = NPM_PACKAGE_JSON.exec(path);
    return m ? installedNpmPackage(m[2]!, head) : undefined;
  },
};
