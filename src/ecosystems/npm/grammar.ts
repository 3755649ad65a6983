// npm's policy grammar: package names (scoped too) and semver ranges as npm reads them, through
// the semver package. A line is written as npm writes a spec: "left-pad", "left-pad@^1.3.0",
// "@acme/lib@>=2 <3". Pre-releases are off by default, as in npm itself: a range admits one only
// when `prereleases: true` is set (or the range names a pre-release of the same version).
// Never treats a string semver cannot read as a version: it matches nothing.
import semver from 'semver';
import type { PolicyGrammar, VersionMatcher } from '../../policy/types.js';
import { checkNpmName, normalizeNpmName } from './names.js';

/** "name" or "name@range", the name possibly scoped ("@scope/name@range"). */
const REQUIREMENT = /^\s*(@[^@\s/]+\/[^@\s/]+|[^@\s/]+)(?:@(.*))?$/;

export const npmGrammar: PolicyGrammar = {
  normalizeName: normalizeNpmName,
  checkName: checkNpmName,
  splitRequirement(line) {
    const m = REQUIREMENT.exec(line);
    if (!m) return { error: `"${line}" is not an npm spec such as "left-pad", "left-pad@^1.3.0" or "@acme/lib@>=2 <3"` };
    return { name: m[1]!, range: (m[2] ?? '').trim() };
  },
  parseRange(range, opts): VersionMatcher | { error: string } {
    const text = range.trim();
    const includePrerelease = opts.prereleases ?? false;
    if (text !== '' && semver.validRange(text) === null)
      return { error: `"${text}" is not a semver range as npm reads it (e.g. "^1.3.0", ">=2 <3" or "1.2.x")` };
    const spec = text === '' ? '*' : text;
    return {
      text: text === '*' ? '' : text,
      matches: (version) => semver.valid(version) !== null && semver.satisfies(version, spec, { includePrerelease }),
    };
  },
};
