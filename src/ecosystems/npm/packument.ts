// Renders npm packuments for one view: the full document (application/json) and the abbreviated
// one npm installs from (application/vnd.npm.install-v1+json). Pure functions of the catalog entry
// and the policy's decisions; the caller caches their output. Lists only versions the view allows
// and that are stored; dist-tags point only at listed versions, `latest` at the newest listed
// release; tarball URLs point at Safelist. Refused versions are named under policyRestrictions
// (no manifest, no tarball), which npm reads to say why a pinned version cannot be installed.
import semver from 'semver';
import type { NpmPackage, NpmVersion } from './catalog.js';
import { tarballFilename } from './names.js';

export type PackumentFormat = 'full' | 'abbreviated';

export interface PackumentListing {
  pkg: NpmPackage;
  /** Allowed and stored, in semver order. */
  listed: NpmVersion[];
  /** Versions the view refuses, with the policy's reason. */
  refused: Array<{ version: string; reason: string }>;
  /** Absolute base of tarball URLs: <base>/npm/<view>/<name>/-/. */
  tarballBase: string;
}

/** Fields of a version manifest the abbreviated document carries (npm's "corgi" format). */
const ABBREVIATED = [
  'name',
  'version',
  'deprecated',
  'dependencies',
  'optionalDependencies',
  'devDependencies',
  'bundleDependencies',
  'bundledDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'acceptDependencies',
  'bin',
  'directories',
  'engines',
  'os',
  'cpu',
  'libc',
  'funding',
  'license',
  '_hasShrinkwrap',
  'hasInstallScript',
];

const MAX_RESTRICTION_LINES = 50;

/** dist-tags for the listed versions: upstream tags that point at one, and latest = the newest listed release. */
export function distTags(upstream: Record<string, string>, listed: readonly NpmVersion[]): Record<string, string> {
  const have = new Set(listed.map((v) => v.version));
  const tags: Record<string, string> = {};
  for (const [tag, v] of Object.entries(upstream)) if (tag !== 'latest' && have.has(v)) tags[tag] = v;
  const releases = listed.filter((v) => semver.prerelease(v.version) === null);
  const newest = (releases.length ? releases : listed).at(-1);
  if (newest) tags.latest = newest.version;
  return tags;
}

function manifestOf(v: NpmVersion, tarballBase: string, fields?: readonly string[]): Record<string, unknown> {
  const m = JSON.parse(v.manifest) as Record<string, unknown>;
  const dist = {
    ...(m.dist as Record<string, unknown>),
    tarball: `${tarballBase}${encodeURIComponent(tarballFilename(v.name, v.version))}`,
  };
  if (!fields) return { ...m, dist };
  const out: Record<string, unknown> = {};
  for (const f of fields) if (m[f] !== undefined) out[f] = m[f];
  return { ...out, dist };
}

function restrictions(l: PackumentListing): Record<string, unknown> | undefined {
  if (!l.refused.length) return undefined;
  const lines = l.refused.slice(0, MAX_RESTRICTION_LINES).map((r) => `  ${l.pkg.name}@${r.version}: ${r.reason}`);
  if (l.refused.length > MAX_RESTRICTION_LINES) lines.push(`  …and ${l.refused.length - MAX_RESTRICTION_LINES} more refused versions`);
  const versions: Record<string, unknown> = {};
  for (const r of l.refused) versions[r.version] = { name: l.pkg.name, version: r.version };
  return { message: `Safelist refuses these versions:\n${lines.join('\n')}`, versions };
}

/** The `time` object: created, modified and each listed version's publication time. */
function timeOf(l: PackumentListing): Record<string, string> {
  const time: Record<string, string> = {};
  if (l.pkg.meta.created) time.created = l.pkg.meta.created;
  if (l.pkg.meta.modified) time.modified = l.pkg.meta.modified;
  for (const v of l.listed) if (v.uploadTime) time[v.version] = v.uploadTime.toISOString();
  return time;
}

export function renderPackument(l: PackumentListing, format: PackumentFormat): string {
  const versions: Record<string, unknown> = {};
  for (const v of l.listed) versions[v.version] = manifestOf(v, l.tarballBase, format === 'abbreviated' ? ABBREVIATED : undefined);
  const policyRestrictions = restrictions(l);
  const tags = distTags(l.pkg.meta.distTags, l.listed);
  if (format === 'abbreviated') {
    return JSON.stringify({
      name: l.pkg.name,
      ...(l.pkg.meta.modified ? { modified: l.pkg.meta.modified } : {}),
      'dist-tags': tags,
      versions,
      ...(policyRestrictions ? { policyRestrictions } : {}),
    });
  }
  return JSON.stringify({
    _id: l.pkg.name,
    name: l.pkg.name,
    ...l.pkg.meta.fields,
    'dist-tags': tags,
    versions,
    time: timeOf(l),
    ...(policyRestrictions ? { policyRestrictions } : {}),
  });
}
