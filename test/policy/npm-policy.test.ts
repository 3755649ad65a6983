// The npm policy grammar and its place in the shared policy files: names (scoped too) as npm
// spells them, semver ranges with pre-releases off by default, exceptions in the same grammar,
// and lint problems with file and line.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { grammars } from '../../src/ecosystems/grammars.js';
import { npmGrammar } from '../../src/ecosystems/npm/grammar.js';
import { checkNpmName, encodeNpmName, tarballFilename } from '../../src/ecosystems/npm/names.js';
import { Policy } from '../../src/policy/decide.js';
import { loadPolicyFiles } from '../../src/policy/load.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function load(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-npm-policy-'));
  dirs.push(dir);
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  const views = new Set(['default', 'team-a']);
  const loaded = await loadPolicyFiles(
    { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') },
    { grammars, views },
  );
  const policy = new Policy(loaded.rules, new Map([...views].map((v) => [v, {}])), grammars, 'run safelist why {name} --view {view}');
  return { loaded, policy };
}

const allowed = (policy: Policy, name: string, version: string, view = 'default') =>
  policy.decide({ ecosystem: 'npm', name, version, view }).allowed;

describe('npm names', () => {
  it('accepts plain and scoped names and refuses what npm refuses', () => {
    for (const ok of ['left-pad', '@acme/lib', 'lodash.merge', 'a~b', '@types/node']) expect(checkNpmName(ok)).toBeUndefined();
    for (const bad of ['', '.hidden', '../etc', 'a/b', '@acme', '@acme/', 'sp ace', '@a/b/c', 'x'.repeat(215)])
      expect(checkNpmName(bad)).toBeDefined();
  });

  it('writes scoped names as npm sends them and tarball names without the scope', () => {
    expect(encodeNpmName('@acme/lib')).toBe('@acme%2Flib');
    expect(tarballFilename('@acme/lib', '1.2.3')).toBe('lib-1.2.3.tgz');
  });
});

describe('npm grammar', () => {
  it('splits specs as npm writes them, scoped ones included', () => {
    expect(npmGrammar.splitRequirement('left-pad')).toEqual({ name: 'left-pad', range: '' });
    expect(npmGrammar.splitRequirement('left-pad@^1.3.0')).toEqual({ name: 'left-pad', range: '^1.3.0' });
    expect(npmGrammar.splitRequirement('@acme/lib@>=2 <3')).toEqual({ name: '@acme/lib', range: '>=2 <3' });
    expect(npmGrammar.splitRequirement('@acme/lib')).toEqual({ name: '@acme/lib', range: '' });
  });

  it('leaves pre-releases out unless asked for', () => {
    const any = npmGrammar.parseRange('', {});
    const anyPre = npmGrammar.parseRange('', { prereleases: true });
    const caret = npmGrammar.parseRange('^1.0.0', {});
    if ('error' in any || 'error' in anyPre || 'error' in caret) throw new Error('valid ranges refused');
    expect(any.matches('1.0.0')).toBe(true);
    expect(any.matches('2.0.0-beta.1')).toBe(false);
    expect(anyPre.matches('2.0.0-beta.1')).toBe(true);
    expect(caret.matches('1.9.9')).toBe(true);
    expect(caret.matches('2.0.0')).toBe(false);
    expect(caret.matches('1.5.0-rc.1')).toBe(false);
    expect(caret.matches('not-a-version')).toBe(false);
    expect(npmGrammar.parseRange('>=banana', {})).toMatchObject({ error: expect.stringContaining('not a semver range') });
  });
});

describe('npm policy files', () => {
  it('reads allowlists/npm.yaml and exceptions in the same grammar', async () => {
    const { loaded, policy } = await load({
      'allowlists/npm.yaml':
        'packages:\n  - left-pad@^1.3.0\n  - "@acme/lib"\n  - name: next-thing\n    versions: ">=2.0.0-0"\n    prereleases: true\n',
      'exceptions/e.yaml':
        'exceptions:\n  - { id: N-1, ecosystem: npm, package: "left-pad@2.0.0", view: team-a, reason: try 2.0, expires: 2099-12-31 }\n',
    });
    expect(loaded.problems).toEqual([]);
    expect(allowed(policy, 'left-pad', '1.3.0')).toBe(true);
    expect(allowed(policy, 'Left-Pad', '1.3.5')).toBe(true);
    expect(allowed(policy, 'left-pad', '2.0.0')).toBe(false);
    expect(allowed(policy, 'left-pad', '2.0.0', 'team-a')).toBe(true);
    expect(allowed(policy, '@acme/lib', '9.0.0')).toBe(true);
    expect(allowed(policy, '@acme/lib', '9.1.0-beta.0')).toBe(false);
    expect(allowed(policy, 'next-thing', '2.1.0-rc.1')).toBe(true);
    expect(policy.decide({ ecosystem: 'npm', name: 'left-pad', version: '2.0.0', view: 'default' }).reason).toContain(
      'allowed versions are ^1.3.0',
    );
  });

  it('reports bad entries with file and line', async () => {
    const { loaded } = await load({ 'allowlists/npm.yaml': 'packages:\n  - left-pad@^1\n  - "../etc"\n  - "ok@>=banana"\n' });
    expect(loaded.problems.map((p) => [p.file.endsWith('allowlists/npm.yaml'), p.line])).toEqual([
      [true, 3],
      [true, 4],
    ]);
  });
});
