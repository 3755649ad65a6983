// npm package names: the registry's rule for new names (lower case, URL-safe, optionally
// scoped as @scope/name, at most 214 characters), their canonical form, and how a name and a
// version map to URL segments and tarball file names. Hand-written (a dozen lines) rather than
// adding validate-npm-package-name: Safelist only needs the rule for names it will serve.
// Never accepts a name that could leave its URL segment or its blob key (no '..', no '/' but
// the scope's, no control characters).

const PART = /^[a-z0-9~-][a-z0-9._~-]*$/;

/** The canonical form used in policy, catalog and URLs: npm names are compared in lower case. */
export function normalizeNpmName(name: string): string {
  return name.toLowerCase();
}

/** Why a name is not an npm package name, or undefined when it is. */
export function checkNpmName(name: string): string | undefined {
  if (name.length === 0) return 'a package name is required';
  if (name.length > 214) return `"${name.slice(0, 40)}…" is longer than 214 characters, the npm limit`;
  const lower = name.toLowerCase();
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(lower);
  const parts = scoped ? [scoped[1]!, scoped[2]!] : [lower];
  if (!scoped && lower.includes('/')) return `"${name}" is not an npm package name: only a scoped name (@scope/name) contains a slash`;
  for (const p of parts) {
    if (!PART.test(p) || p === '.' || p === '..' || p.startsWith('.'))
      return `"${name}" is not an npm package name: lower-case letters, digits and - . _ ~, optionally scoped as @scope/name`;
  }
  return undefined;
}

/** The unscoped part of a name ("@acme/lib" → "lib"): what a tarball file name starts with. */
export function baseName(name: string): string {
  const slash = name.indexOf('/');
  return slash >= 0 ? name.slice(slash + 1) : name;
}

/** The tarball file name npm registries use: <base name>-<version>.tgz. */
export function tarballFilename(name: string, version: string): string {
  return `${baseName(name)}-${version}.tgz`;
}

/** The name as one URL path segment, as npm itself sends it: @scope%2fname. */
export function encodeNpmName(name: string): string {
  return name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}
