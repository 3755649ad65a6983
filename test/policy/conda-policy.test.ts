// conda policy: match specs through rattler's VersionSpec, build patterns, subdirs, channels,
// exceptions in the same grammar, and problems reported with file and line.
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { grammars } from '../../src/ecosystems/index.js';
import { splitMatchSpec } from '../../src/ecosystems/conda/grammar.js';
import { Policy } from '../../src/policy/decide.js';
import { loadPolicyFiles } from '../../src/policy/load.js';

async function load(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-conda-policy-'));
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  const views = new Set(['default', 'team-a']);
  const loaded = await loadPolicyFiles(
    { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') },
    { grammars, views },
  );
  return { loaded, policy: new Policy(loaded.rules, new Map([...views].map((v) => [v, {}])), grammars, 'see safelist why {name}') };
}

const ALLOWLIST = [
  'channels:',
  '  conda-forge:',
  '    - numpy >=1.26,<2',
  '    - python 3.11.* *_cpython',
  '    - pytorch=2.1',
  '    - name: libblas',
  '      versions: ">=3.9"',
  '      build: "*openblas"',
  '      subdirs: [linux-64]',
  '    - "tzdata[version=\'>=2024a\']"',
  'packages:',
  '  - ca-certificates',
].join('\n');

describe('conda policy', () => {
  it('splits match specs into name, version spec, build and channel', () => {
    expect(splitMatchSpec('numpy >=1.26,<2')).toEqual({ name: 'numpy', range: '>=1.26,<2' });
    expect(splitMatchSpec('numpy>=1.26')).toEqual({ name: 'numpy', range: '>=1.26' });
    expect(splitMatchSpec('python 3.11.* *_cpython')).toEqual({ name: 'python', range: '3.11.*', build: '*_cpython' });
    expect(splitMatchSpec('python=3.11=*_cpython')).toEqual({ name: 'python', range: '=3.11', build: '*_cpython' });
    expect(splitMatchSpec('conda-forge::numpy[version=">=1", build=py*]')).toEqual({
      name: 'numpy',
      range: '>=1',
      build: 'py*',
      channel: 'conda-forge',
    });
    expect(splitMatchSpec('numpy >= 1.26')).toEqual({ name: 'numpy', range: '>=1.26' });
    expect('error' in splitMatchSpec('numpy 1 2 3')).toBe(true);
  });

  it('decides by version spec, build pattern, subdir and channel', async () => {
    const { loaded, policy } = await load({ 'allowlists/conda.yaml': ALLOWLIST });
    expect(loaded.problems).toEqual([]);
    const d = (name: string, version: string, build?: string, subdir?: string, channel = 'conda-forge') =>
      policy.decide({
        ecosystem: 'conda',
        name,
        version,
        view: 'default',
        channel,
        ...(build ? { build } : {}),
        ...(subdir ? { subdir } : {}),
      });
    expect(d('numpy', '1.26.4').allowed).toBe(true);
    expect(d('NumPy', '1.26.4').allowed).toBe(true);
    expect(d('numpy', '2.0.0').code).toBe('version-not-allowed');
    expect(d('numpy', '1.25.0').reason).toContain('allowed versions are >=1.26,<2');
    expect(d('python', '3.11.9', 'h9e4cc4f_0_cpython').allowed).toBe(true);
    expect(d('python', '3.11.9', 'h123_0_pypy').allowed).toBe(false);
    expect(d('python', '3.12.0', 'h9e4cc4f_0_cpython').allowed).toBe(false);
    expect(d('pytorch', '2.1.2').allowed).toBe(true);
    expect(d('pytorch', '2.10.0').allowed).toBe(false);
    expect(d('libblas', '3.9.0', '20_linux64_openblas', 'linux-64').allowed).toBe(true);
    expect(d('libblas', '3.9.0', '20_linux64_mkl', 'linux-64').allowed).toBe(false);
    expect(d('libblas', '3.9.0', '20_osx64_openblas', 'osx-64').allowed).toBe(false);
    expect(d('tzdata', '2024b').allowed).toBe(true);
    expect(d('numpy', '1.26.4', undefined, undefined, 'bioconda').code).toBe('not-listed');
    expect(d('ca-certificates', '2024.8.30', undefined, undefined, 'bioconda').allowed).toBe(true);
    expect(d('scipy', '1.0').code).toBe('not-listed');
    expect(policy.namesInScope('conda', new Date(), 'conda-forge')).toEqual(
      new Set(['numpy', 'python', 'pytorch', 'libblas', 'tzdata', 'ca-certificates']),
    );
    expect(policy.namesInScope('conda', new Date(), 'bioconda')).toEqual(new Set(['ca-certificates']));
  });

  it('reads exceptions in the same grammar, per view and channel', async () => {
    const { loaded, policy } = await load({
      'allowlists/conda.yaml': ALLOWLIST,
      'exceptions/a.yaml': [
        'exceptions:',
        '  - { id: C-1, ecosystem: conda, package: "numpy 2.0.*", channel: conda-forge, view: team-a, reason: new API, expires: 2099-01-01 }',
        '  - { id: C-2, ecosystem: conda, name: scipy, versions: ">=1.11", build: "py311*", view: "*", reason: x, expires: 2099-01-01 }',
      ].join('\n'),
    });
    expect(loaded.problems).toEqual([]);
    expect(policy.decide({ ecosystem: 'conda', name: 'numpy', version: '2.0.1', view: 'team-a', channel: 'conda-forge' }).allowed).toBe(
      true,
    );
    expect(policy.decide({ ecosystem: 'conda', name: 'numpy', version: '2.0.1', view: 'default', channel: 'conda-forge' }).allowed).toBe(
      false,
    );
    expect(policy.decide({ ecosystem: 'conda', name: 'scipy', version: '1.11.0', build: 'py311h1', view: 'default' }).allowed).toBe(true);
    expect(policy.decide({ ecosystem: 'conda', name: 'scipy', version: '1.11.0', build: 'py310h1', view: 'default' }).allowed).toBe(false);
  });

  it('reports bad entries with file and line', async () => {
    const { loaded } = await load({
      'allowlists/conda.yaml': [
        'channels:',
        '  conda-forge:',
        '    - numpy >=>1',
        '    - "bad name!"',
        '    - name: x',
        '      subdirs: [linux-65]',
        '    - bioconda::samtools',
        '  Bad Channel:',
        '    - numpy',
        'colour: blue',
      ].join('\n'),
      'exceptions/b.yaml':
        'exceptions:\n  - { id: C-3, ecosystem: pypi, package: requests, build: "py*", view: "*", reason: x, expires: 2099-01-01 }\n',
    });
    const lines = loaded.problems.map((p) => `${p.file.split('/').pop()}:${p.line}: ${p.message}`);
    expect(lines.some((l) => l.startsWith('conda.yaml:3:') && l.includes('not a conda version spec'))).toBe(true);
    expect(lines.some((l) => l.startsWith('conda.yaml:4:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('conda.yaml:5:') && l.includes('linux-65'))).toBe(true);
    expect(lines.some((l) => l.startsWith('conda.yaml:7:') && l.includes('another channel'))).toBe(true);
    expect(lines.some((l) => l.startsWith('conda.yaml:8:') && l.includes('not a channel name'))).toBe(true);
    expect(lines.some((l) => l.startsWith('conda.yaml:10:') && l.includes('unknown key "colour"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('b.yaml:2:') && l.includes('build'))).toBe(true);
  });
});
