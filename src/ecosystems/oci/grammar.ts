// The OCI policy grammar. A name is `<registry>/<repository>`; a version is a tag. A range is
// either a semver range (through the `semver` package: "^1.2", ">=2024.1.0 <2025", or any
// text prefixed "semver:") matched against tags that parse as semver (a leading v is fine),
// or a list of tag globs separated by commas or spaces ("latest, 2024*, 1.?"), where * is
// any run of characters and ? one character. Rules may pin digests and platforms.
import semver from 'semver';
import type { PolicyGrammar, VersionMatcher } from '../../policy/types.js';
import { checkDigest, checkImageName, checkPlatform } from './names.js';

const GLOB = /^[A-Za-z0-9_.*?-]{1,128}$/;

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function parseSemver(text: string, range: string, prereleases: boolean | undefined): VersionMatcher | { error: string } {
  const valid = semver.validRange(range);
  if (valid === null) return { error: `"${range}" is not a semver range (e.g. "^1.2", ">=2.0.0 <3" or "1.x")` };
  return {
    text,
    matches: (tag) => {
      const v = semver.valid(tag);
      return v !== null && semver.satisfies(v, valid, { includePrerelease: prereleases ?? false });
    },
  };
}

export const ociGrammar: PolicyGrammar = {
  normalizeName: (name) => name.trim(),
  checkName: checkImageName,
  splitRequirement(line) {
    const text = line.trim();
    const colon = text.indexOf(':');
    const name = colon < 0 ? text : text.slice(0, colon);
    const range = colon < 0 ? '' : text.slice(colon + 1).trim();
    const problem = checkImageName(name);
    if (problem) return { error: `"${line}": ${problem}; a one-line entry is <registry>/<repository>[:<tag patterns or semver range>]` };
    return { name, range };
  },
  parseRange(range, opts): VersionMatcher | { error: string } {
    const text = range.trim();
    if (text === '' || text === '*') return { text: '', matches: () => true };
    if (text.startsWith('semver:')) return parseSemver(text, text.slice('semver:'.length).trim(), opts.prereleases);
    if (/^[\^~<>=]/.test(text) || /\s-\s|\|\|/.test(text)) return parseSemver(text, text, opts.prereleases);
    const globs = text.split(/[\s,]+/).filter(Boolean);
    const bad = globs.find((g) => !GLOB.test(g));
    if (bad !== undefined) {
      return {
        error: `"${bad}" is not a tag pattern: tags are letters, digits, _ . - (with * and ? as wildcards); for a semver range start with ^ ~ < > = or "semver:"`,
      };
    }
    const res = globs.map(globToRegExp);
    return { text, matches: (tag) => res.some((re) => re.test(tag)) };
  },
  checkPin(kind, value) {
    return kind === 'digests' ? checkDigest(value) : checkPlatform(value);
  },
};
