// What triage of an npm exception request learns from the catalog the sync keeps: the versions
// the sync saw upstream, those the requested range matches, the dependencies the newest matching
// version declares (what npm installs by default: dependencies, optionalDependencies and peer
// dependencies not marked optional) that some view in question would still refuse, and its
// licence; for a package the sync has not seen, the exact version a pin names (for advisories).
// Facts only: it never decides, and never fetches anything (an unseen package is reported as
// unseen, not looked up).
import type { TriageFacts, TriageQuery } from '../types.js';
import type { NpmCatalog, NpmPackage } from './catalog.js';
import { npmGrammar } from './grammar.js';

export interface NpmTriageFacts {
  versions: string[];
  matching: string[];
  /** The newest matching version's install-time dependencies, as "name@range". */
  dependencies: Array<{ requirement: string; name: string }>;
  licence: string | null;
  /** Why dependencies could not be read, when they could not. */
  note?: string;
}

interface Manifest {
  license?: unknown;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Facts about the versions of `pkg` that `matches` accepts (in the catalog's order, oldest first). */
export function npmTriageFacts(pkg: NpmPackage, matches: (version: string) => boolean): NpmTriageFacts {
  const versions = [...pkg.versions.keys()];
  const matching = versions.filter(matches);
  const facts: NpmTriageFacts = { versions, matching, dependencies: [], licence: licenceOf(pkg.meta.fields.license) };
  const newest = matching.at(-1);
  if (newest === undefined) return { ...facts, note: 'no known version matches the request; dependencies not checked' };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(pkg.versions.get(newest)!.manifest) as Manifest;
  } catch (err) {
    return { ...facts, note: `the manifest of ${pkg.name}@${newest} could not be read: ${(err as Error).message}` };
  }
  facts.licence = licenceOf(manifest.license) ?? facts.licence;
  const optionalPeer = (n: string) => manifest.peerDependenciesMeta?.[n]?.optional === true;
  const declared: Array<[string, string]> = [
    ...Object.entries(manifest.dependencies ?? {}),
    ...Object.entries(manifest.optionalDependencies ?? {}),
    ...Object.entries(manifest.peerDependencies ?? {}).filter(([n]) => !optionalPeer(n)),
  ];
  const seen = new Set<string>();
  for (const [name, range] of declared) {
    if (seen.has(name) || typeof range !== 'string') continue;
    seen.add(name);
    facts.dependencies.push({ requirement: `${name}@${range}`, name });
  }
  return facts;
}

/** The triage role: the catalog's facts about the request, its dependencies judged in the views in question. */
export function triageNpm(catalog: NpmCatalog, q: TriageQuery): TriageFacts {
  const pkg = catalog.package(q.name);
  if (!pkg) {
    const exact = /^=?\s*(\d[^\s|<>=~^*]*)$/.exec(q.versions.trim())?.[1];
    return {
      known: false,
      versions: [],
      matching: [],
      note: 'the sync has not seen this package upstream (it syncs only allowlisted names); approval makes the next sync look for it',
      advisoryVersions: exact ? [exact] : [],
    };
  }
  const matcher = npmGrammar.parseRange(q.versions, {});
  const facts = npmTriageFacts(pkg, (v) => !('error' in matcher) && matcher.matches(v));
  const out: TriageFacts = { known: true, versions: facts.versions, matching: facts.matching, licence: facts.licence };
  if (facts.note) return { ...out, dependencies: { checked: false, notAllowed: [], note: facts.note } };
  const views = q.view === '*' ? q.policy.viewNames() : [q.view];
  const notAllowed = facts.dependencies.filter((d) => views.some((v) => !q.policy.projectVisible('npm', d.name, v)));
  return { ...out, dependencies: { checked: true, notAllowed } };
}

/**
 * The spellings a typosquat check compares for an npm name: the name, and for a scoped name its
 * bare name too, since `@someone/left-pad` passes for `left-pad` at a glance (and the reverse).
 */
export function npmNameVariants(name: string): string[] {
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  return slash > 0 ? [name, name.slice(slash + 1)] : [name];
}

/** An SPDX expression, or the legacy { type } object and [{ type }] list. */
function licenceOf(value: unknown): string | null {
  if (typeof value === 'string' && value) return value;
  if (Array.isArray(value)) {
    const types = value.map((v) => licenceOf(v)).filter((v): v is string => v !== null);
    return types.length ? types.join(' OR ') : null;
  }
  if (value && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string') return (value as { type: string }).type;
  return null;
}
