// The OCI policy grammar and its place in the shared policy files: tag globs, semver ranges,
// pinned digests and platforms, exceptions in the same grammar, and lint problems with lines.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { grammars } from '../../src/ecosystems/index.js';
import { ociGrammar } from '../../src/ecosystems/oci/grammar.js';
import { checkDigest, splitImageName } from '../../src/ecosystems/oci/names.js';
import { Policy } from '../../src/policy/decide.js';
import { loadPolicyFiles } from '../../src/policy/load.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function load(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-oci-policy-'));
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

function matcher(range: string) {
  const m = ociGrammar.parseRange(range, {});
  if ('error' in m) throw new Error(m.error);
  return m;
}

describe('OCI grammar', () => {
  it('matches tag globs', () => {
    const m = matcher('latest, 2024*  1.?');
    expect(['latest', '20240101', '1.2'].map(m.matches)).toEqual([true, true, true]);
    expect(['latest2', '1.20', '2023.1', 'x2024'].map(m.matches)).toEqual([false, false, false, false]);
    expect(matcher('*').matches('anything')).toBe(true);
  });

  it('matches semver ranges through semver, ignoring tags that are not versions', () => {
    const m = matcher('^1.2');
    expect(['1.2.0', '1.9.3', 'v1.4.0', '2.0.0', '1.1.9', 'latest', '1.3.0-rc1'].map(m.matches)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(matcher('semver:1.x').matches('1.7.0')).toBe(true);
    expect(ociGrammar.parseRange('^1.3.0-rc1', { prereleases: true })).not.toHaveProperty('error');
    const pre = ociGrammar.parseRange('>=1.3.0-rc0', { prereleases: true });
    expect('error' in pre ? false : pre.matches('1.3.0-rc1')).toBe(true);
  });

  it('refuses what is neither', () => {
    expect(ociGrammar.parseRange('^not.a.version', {})).toHaveProperty('error');
    expect(ociGrammar.parseRange('tag/with/slash', {})).toHaveProperty('error');
    expect(ociGrammar.parseRange('semver:??', {})).toHaveProperty('error');
  });

  it('checks image names and digests', () => {
    expect(splitImageName('mcr/azureml/openmpi4.1.0-ubuntu22.04')).toEqual({
      registry: 'mcr',
      repository: 'azureml/openmpi4.1.0-ubuntu22.04',
    });
    for (const bad of ['azureml', 'mcr/Azureml/x', 'mcr/a//b', 'mcr/../x', 'mcr/a/', '/mcr/a', 'mcr/-a'])
      expect(splitImageName(bad), bad).toBeUndefined();
    expect(checkDigest(`sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(checkDigest(`sha512:${'a'.repeat(128)}`)).toContain('not supported');
    expect(checkDigest(`sha256:${'a'.repeat(63)}`)).toContain('64 lower-case hex digits');
    expect(checkDigest('nodigest')).toContain('not a digest');
  });
});

describe('OCI policy files', () => {
  const D1 = `sha256:${'1'.repeat(64)}`;
  const D2 = `sha256:${'2'.repeat(64)}`;

  it('reads entries, pins and exceptions, and decides with digests and platforms', async () => {
    const { loaded, policy } = await load({
      'allowlists/oci.yaml': [
        'packages:',
        '  - mcr/azureml/base:^1.0.0',
        '  - name: mcr/azureml/pinned',
        '    versions: "stable"',
        `    digests: [${D1}]`,
        '    platforms: [linux/amd64, linux/arm64/v8]',
      ].join('\n'),
      'exceptions/oci.yaml': [
        'exceptions:',
        '  - id: EXC-OCI-1',
        '    ecosystem: oci',
        '    package: mcr/azureml/base:2.0.0',
        '    view: team-a',
        '    reason: needs the new CUDA',
        '    expires: 2999-01-01',
      ].join('\n'),
    });
    expect(loaded.problems).toEqual([]);
    const q = (name: string, version: string, extra: { view?: string; digest?: string; platform?: string } = {}) =>
      policy.decide({
        ecosystem: 'oci',
        name,
        version,
        view: extra.view ?? 'default',
        ...(extra.digest ? { digest: extra.digest } : {}),
        ...(extra.platform ? { platform: extra.platform } : {}),
      });
    expect(q('mcr/azureml/base', '1.4.0').allowed).toBe(true);
    expect(q('mcr/azureml/base', '2.0.0').allowed).toBe(false);
    expect(q('mcr/azureml/base', '2.0.0').reason).toContain('allowed versions are ^1.0.0');
    expect(q('mcr/azureml/base', '2.0.0', { view: 'team-a' }).allowed).toBe(true);
    expect(q('mcr/azureml/pinned', 'stable', { digest: D1 }).allowed).toBe(true);
    expect(q('mcr/azureml/pinned', 'stable', { digest: D2 }).reason).toContain(`digest ${D2} is not among the pinned digests`);
    // A pinned rule never matches without a digest (fail closed).
    expect(q('mcr/azureml/pinned', 'stable').allowed).toBe(false);
    expect(q('mcr/azureml/pinned', 'stable', { digest: D1, platform: 'linux/arm64/v8' }).allowed).toBe(true);
    expect(q('mcr/azureml/pinned', 'stable', { digest: D1, platform: 'windows/amd64' }).reason).toContain(
      'platform windows/amd64 is not among the allowed platforms',
    );
    expect(q('mcr/other/thing', 'latest').code).toBe('not-listed');
  });

  it('reports bad entries with file and line, and pins outside OCI', async () => {
    const { loaded } = await load({
      'allowlists/oci.yaml': [
        'packages:',
        '  - mcr/AzureML/x:1',
        '  - mcr/azureml/x:^bad',
        '  - name: mcr/azureml/y',
        '    digests: [sha256:abc]',
        '  - name: mcr/azureml/z',
        '    platforms: [linux]',
        '  - name: mcr/azureml/w',
        '    digests: []',
      ].join('\n'),
      'allowlists/pypi.yaml': ['packages:', '  - name: requests', '    digests: [sha256:abc]'].join('\n'),
    });
    const lines = loaded.problems.map((p) => `${p.file.split('/').pop()}:${p.line}: ${p.message}`);
    expect(lines).toEqual([
      expect.stringMatching(/^oci\.yaml:2: .*not an image name: expected <registry>\/<repository>/),
      expect.stringMatching(/^oci\.yaml:3: "\^bad" is not a semver range/),
      expect.stringMatching(/^oci\.yaml:5: .*not a sha256 digest/),
      expect.stringMatching(/^oci\.yaml:7: "linux" is not a platform/),
      expect.stringMatching(/^oci\.yaml:9: "digests" must be a non-empty list/),
      expect.stringMatching(/^pypi\.yaml:3: "digests" is only supported for container images/),
    ]);
  });
});
