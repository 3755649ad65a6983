// conda's policy grammar: package names, version specs and build-string patterns as conda
// writes them in match specs ("numpy >=1.26,<2", "python 3.11.* *_cpython", "pytorch=2.1",
// "conda-forge::numpy[version='>=1.26']"). Versions and version specs are parsed by
// @conda-org/rattler (Version, VersionSpec) only; this file merely splits a match spec into its
// parts, because rattler's JS binding (0.3.x) has no MatchSpec class yet. Rattler is loaded at
// the first parse (rattler.ts), not when this file is.
import type { Version, VersionSpec } from '@conda-org/rattler';
import { rattler } from './rattler.js';
import type { BuildMatcher, PolicyGrammar, SplitRequirement, VersionMatcher } from '../../policy/types.js';

const NAME = /^[A-Za-z0-9_.-]+/;

export function normalizeCondaName(name: string): string {
  return name.toLowerCase();
}

export function checkCondaName(name: string): string | undefined {
  if (name === '' || !rattler().isPackageName(name)) return `"${name}" is not a conda package name (letters, digits, _ . -)`;
  return undefined;
}

/** Parsed versions are kept: the read path asks the same few hundred versions over and over. */
const versions = new Map<string, Version | null>();
export function parseCondaVersion(text: string): Version | null {
  let v = versions.get(text);
  if (v === undefined) {
    try {
      v = new (rattler().Version)(text);
    } catch {
      v = null;
    }
    if (versions.size > 200_000) versions.clear();
    versions.set(text, v);
  }
  return v;
}

/** conda's build-string matching: exact, a glob with `*`, or a regular expression written ^...$. */
export function parseBuildPattern(pattern: string): BuildMatcher | { error: string } {
  const text = pattern.trim();
  if (text === '' || text === '*') return { text: '*', matches: () => true };
  if (text.startsWith('^') && text.endsWith('$')) {
    try {
      const re = new RegExp(text);
      return { text, matches: (b) => re.test(b) };
    } catch (err) {
      return { error: `"${text}" is not a valid build-string regular expression: ${(err as Error).message}` };
    }
  }
  if (/[\s,[\]]/.test(text)) return { error: `"${text}" is not a build-string pattern (use * as wildcard, e.g. "*_cpython" or "py311*")` };
  if (!text.includes('*')) return { text, matches: (b) => b === text };
  const re = new RegExp(
    `^${text
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return { text, matches: (b) => re.test(b) };
}

/** Splits the bracket part of a match spec: [version='>=1', build="py*"]. */
function splitBrackets(inner: string): Record<string, string> | { error: string } {
  const out: Record<string, string> = {};
  const re = /\s*([a-z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^,\]]*))\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < inner.length && (m = re.exec(inner)) !== null) {
    out[m[1]!] = (m[2] ?? m[3] ?? m[4] ?? '').trim();
    at = re.lastIndex;
  }
  if (at < inner.length) return { error: `cannot read "[${inner}]": expected key='value' pairs such as version='>=1.2',build='py*'` };
  return out;
}

export function splitMatchSpec(line: string): SplitRequirement | { error: string } {
  let rest = line.trim();
  let channel: string | undefined;
  const sep = rest.indexOf('::');
  if (sep >= 0) {
    channel = rest.slice(0, sep).trim();
    rest = rest.slice(sep + 2).trim();
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(channel)) return { error: `"${line}": "${channel}" is not a channel name` };
  }
  const nm = NAME.exec(rest);
  if (!nm) return { error: `"${line}" is not a match spec such as "numpy >=1.26,<2" or "python 3.11.* *_cpython"` };
  const name = nm[0];
  rest = rest.slice(name.length);
  let range = '';
  let build: string | undefined;
  const bracket = /^\s*\[(.*)\]\s*$/.exec(rest);
  if (bracket) {
    const kv = splitBrackets(bracket[1]!);
    if ('error' in kv) return { error: `"${line}": ${kv.error}` };
    for (const k of Object.keys(kv))
      if (k !== 'version' && k !== 'build') return { error: `"${line}": only version and build may be given in brackets, not ${k}` };
    range = kv.version ?? '';
    build = kv.build;
  } else if (/^=[^=]/.test(rest) && !/\s/.test(rest.trim())) {
    // name=1.2 or name=1.2=build: conda's "fuzzy" form (1.2 means 1.2.*).
    const parts = rest.slice(1).split('=');
    if (parts.length > 2) return { error: `"${line}" has more than name=version=build` };
    range = `=${parts[0]}`;
    build = parts[1];
  } else if (rest.trim() !== '') {
    if (!/^\s|^[<>=!~]/.test(rest))
      return { error: `"${line}" is not a match spec: a name (letters, digits, _ . -) then a version spec, e.g. "numpy >=1.26"` };
    const words = rest.trim().split(/\s+/);
    // "name >= 1.2" style: operators separated from the version by spaces are joined back.
    const joined: string[] = [];
    for (const w of words) {
      const last = joined[joined.length - 1];
      if (last !== undefined && /^[<>=!~]+$/.test(last)) joined[joined.length - 1] = last + w;
      else joined.push(w);
    }
    if (joined.length > 2) return { error: `"${line}" has more than a name, a version spec and a build pattern` };
    range = joined[0]!;
    build = joined[1];
  }
  return { name, range, ...(build !== undefined ? { build } : {}), ...(channel !== undefined ? { channel } : {}) };
}

export const condaGrammar: PolicyGrammar = {
  channels: true,
  normalizeName: normalizeCondaName,
  checkName: checkCondaName,
  splitRequirement: splitMatchSpec,
  parseRange(range): VersionMatcher | { error: string } {
    const text = range.trim();
    if (text === '' || text === '*') return { text: '', matches: () => true };
    let spec: VersionSpec;
    try {
      spec = new (rattler().VersionSpec)(text, 'strict');
    } catch (err) {
      const why = String(err).split('\n')[0];
      return { error: `"${text}" is not a conda version spec (e.g. ">=1.26,<2", "3.11.*" or "=2.1"): ${why}` };
    }
    const memo = new Map<string, boolean>();
    return {
      text,
      matches(version) {
        let ok = memo.get(version);
        if (ok === undefined) {
          const v = parseCondaVersion(version);
          ok = v !== null && spec.matches(v);
          if (memo.size > 50_000) memo.clear();
          memo.set(version, ok);
        }
        return ok;
      },
    };
  },
  parseBuild: parseBuildPattern,
  checkSubdir(subdir) {
    return rattler().isPlatform(subdir) && subdir !== 'unknown'
      ? undefined
      : `"${subdir}" is not a conda subdir (e.g. noarch, linux-64, osx-arm64, win-64)`;
  },
};
