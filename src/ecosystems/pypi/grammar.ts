// PyPI's policy grammar: PEP 503 names and PEP 440 specifiers (through @renovatebot/pep440).
// A bare name admits every version, pre-releases included; a specifier follows PEP 440,
// which admits pre-releases only when the specifier names one or `prereleases: true` is set.
import { satisfies, valid, validRange } from '@renovatebot/pep440';
import type { PolicyGrammar, VersionMatcher } from '../../policy/types.js';
import { checkProjectName, normalizeProjectName } from './names.js';

const REQUIREMENT = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$/;

export const pypiGrammar: PolicyGrammar = {
  normalizeName: normalizeProjectName,
  checkName: checkProjectName,
  splitRequirement(line) {
    const m = REQUIREMENT.exec(line);
    if (!m) return { error: `"${line}" is not a requirement such as "requests>=2.31,<3"` };
    const rest = m[2]!;
    if (rest.includes(';')) return { error: `"${line}": environment markers are not supported in an allowlist` };
    if (rest.startsWith('@')) return { error: `"${line}": direct URL references are not allowed in an allowlist` };
    if (rest !== '' && !/^[(<>=!~]/.test(rest)) {
      return {
        error: `"${line}" is not a requirement: a project name (letters, digits, . _ -) optionally followed by a PEP 440 specifier`,
      };
    }
    return { name: m[1]!, range: rest.replace(/^\(|\)$/g, '').trim() };
  },
  parseRange(range, opts): VersionMatcher | { error: string } {
    const text = range.trim();
    if (text === '' || text === '*') return { text: '', matches: () => true };
    if (!validRange(text)) return { error: `"${text}" is not a PEP 440 version specifier (e.g. ">=2.31,<3" or "==1.26.*")` };
    const prereleases = opts.prereleases;
    return {
      text,
      matches: (version) => valid(version) !== null && satisfies(version, text, prereleases === undefined ? {} : { prereleases }),
    };
  },
};
