// `safelist allowlist check` for conda: a curated channel is only useful if what it allows
// can be installed. For every view, channel and platform subdir, each allowed record's
// dependencies must have at least one allowed, stored candidate in that subdir or noarch
// (noarch records are checked against every platform subdir the channel serves). Dependency
// specs are read as match specs; versions are matched by rattler's VersionSpec.
import type { Policy } from '../../policy/decide.js';
import type { VersionMatcher, BuildMatcher } from '../../policy/types.js';
import type { CondaPackage } from './catalog.js';
import { condaGrammar, parseBuildPattern, splitMatchSpec } from './grammar.js';
import type { CondaIndex } from './index.js';

export interface UninstallableDependency {
  view: string;
  channel: string;
  /** The subdir the solve would target (a noarch record is checked per platform). */
  platform: string;
  filename: string;
  dependency: string;
  /** Why nothing matches: what the policy says about the dependency's name, or why the spec cannot be read. */
  reason: string;
}

interface ParsedDep {
  name: string;
  version: VersionMatcher;
  build: BuildMatcher | undefined;
}

const parsedDeps = new Map<string, ParsedDep | { error: string }>();

function parseDep(dep: string): ParsedDep | { error: string } {
  let p = parsedDeps.get(dep);
  if (p === undefined) {
    const split = splitMatchSpec(dep);
    if ('error' in split) p = split;
    else {
      const version = condaGrammar.parseRange(split.range, {});
      const build = split.build !== undefined ? parseBuildPattern(split.build) : undefined;
      if ('error' in version) p = version;
      else if (build && 'error' in build) p = build;
      else p = { name: split.name.toLowerCase(), version, build };
    }
    parsedDeps.set(dep, p);
  }
  return p;
}

function satisfied(dep: ParsedDep, pool: Map<string, CondaPackage[]>): boolean {
  return (pool.get(dep.name) ?? []).some((c) => dep.version.matches(c.version) && (!dep.build || dep.build.matches(c.build)));
}

function byName(list: CondaPackage[], into = new Map<string, CondaPackage[]>()): Map<string, CondaPackage[]> {
  for (const p of list) {
    const l = into.get(p.name) ?? [];
    l.push(p);
    into.set(p.name, l);
  }
  return into;
}

export function checkCondaInstallability(index: CondaIndex, policy: Policy, views = policy.viewNames()): UninstallableDependency[] {
  const out: UninstallableDependency[] = [];
  for (const view of views) {
    for (const channel of index.channels) {
      const platforms = index.subdirsOf(channel).filter((s) => s !== 'noarch');
      const noarch = index.allowedPackages(view, channel.name, 'noarch');
      for (const platform of platforms.length ? platforms : ['noarch']) {
        const own = platform === 'noarch' ? [] : index.allowedPackages(view, channel.name, platform);
        const pool = byName(noarch, byName(own));
        for (const p of [...own, ...noarch]) {
          const record = JSON.parse(p.record) as { depends?: string[] };
          for (const dep of record.depends ?? []) {
            const parsed = parseDep(dep);
            if ('error' in parsed) {
              out.push({
                view,
                channel: channel.name,
                platform,
                filename: p.filename,
                dependency: dep,
                reason: `cannot read the dependency: ${parsed.error}`,
              });
              continue;
            }
            // Virtual packages (__glibc, __cuda, ...) come from the machine, not a channel.
            if (parsed.name.startsWith('__') || satisfied(parsed, pool)) continue;
            const d = policy.decide({ ecosystem: 'conda', name: parsed.name, version: '0', view, channel: channel.name });
            const reason =
              d.code === 'not-listed'
                ? d.reason
                : `no allowed and mirrored ${parsed.name} matches "${dep}" in ${channel.name}/${platform === 'noarch' ? 'noarch' : `${platform} or noarch`}`;
            out.push({ view, channel: channel.name, platform, filename: p.filename, dependency: dep, reason });
          }
        }
      }
    }
  }
  return out;
}
