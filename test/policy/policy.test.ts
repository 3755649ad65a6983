import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { grammars } from '../../src/ecosystems/index.js';
import { Policy } from '../../src/policy/decide.js';
import { loadPolicyFiles } from '../../src/policy/load.js';

async function policyDir(files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-policy-'));
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  return { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') };
}

const VIEWS = new Set(['default', 'team-a', 'team-b']);

async function load(files: Record<string, string>) {
  const loaded = await loadPolicyFiles(await policyDir(files), { grammars, views: VIEWS });
  const views = new Map([...VIEWS].map((v) => [v, v === 'team-b' ? { cooldown: '7d' } : {}]));
  return { loaded, policy: new Policy(loaded.rules, views, grammars, 'see safelist why {name}') };
}

describe('policy files', () => {
  it('reports every bad entry with file and line', async () => {
    const { loaded } = await load({
      'allowlists/pypi.yaml': [
        'packages:',
        '  - requests>=2.31,<3',
        '  - "bad name!"',
        '  - numpy>=>1',
        '  - name: torch',
        '    versions: "==2.*"',
        '    colour: blue',
        '  - requests>=2.31,<3',
        '  - pkg ; python_version < "3.8"',
      ].join('\n'),
      'exceptions/team.yaml': [
        'exceptions:',
        '  - id: EXC-1',
        '    ecosystem: pypi',
        '    package: scipy==1.11.4',
        '    view: nowhere',
        '    reason: needed',
        '    expires: 2030-01-01',
        '  - id: EXC-2',
        '    ecosystem: pypi',
        '    package: scipy',
        '    view: team-a',
        '    reason: needed',
        '    requested_by: alice',
        '    approved_by: alice',
        '  - id: EXC-3',
        '    ecosystem: pypi',
        '    name: polars',
        '    versions: ">=1"',
        '    view: "*"',
        '    reason: fast frames',
        '    requested_by: alice',
        '    approved_by: bob',
        '    expires: 2030-01-01',
      ].join('\n'),
    });
    const text = loaded.problems.map((p) => `${p.file.split('/').slice(-2).join('/')}:${p.line}: ${p.message}`);
    expect(text).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^allowlists\/pypi.yaml:3: "bad name!" is not a requirement/),
        expect.stringMatching(/^allowlists\/pypi.yaml:4: .*PEP 440/),
        expect.stringMatching(/^allowlists\/pypi.yaml:7: unknown key "colour"/),
        expect.stringMatching(/^allowlists\/pypi.yaml:8: duplicate of the entry on line 2/),
        expect.stringMatching(/^allowlists\/pypi.yaml:9: .*markers/),
        expect.stringMatching(/^exceptions\/team.yaml:5: "view" must be/),
        expect.stringMatching(/^exceptions\/team.yaml:8: every exception needs "expires"/),
      ]),
    );
    // EXC-3 is valid and loaded.
    expect(loaded.rules.some((r) => r.id === 'EXC-3' && r.name === 'polars')).toBe(true);
  });

  it('reports YAML syntax errors with a line', async () => {
    const { loaded } = await load({ 'allowlists/pypi.yaml': 'packages:\n  - ok\n  - [unclosed\n' });
    expect(loaded.problems.length).toBeGreaterThan(0);
    expect(loaded.problems[0]!.line).toBeGreaterThanOrEqual(3);
  });
});

describe('decide', () => {
  const files = {
    'allowlists/pypi.yaml':
      'packages:\n  - Requests_Toolbelt\n  - "numpy>=1.26,<2"\n  - name: torch\n    versions: ">=2.1"\n    prereleases: true\n',
    'exceptions/x.yaml': [
      'exceptions:',
      '  - { id: E1, ecosystem: pypi, package: "numpy==2.0.0", view: team-a, reason: r, expires: 2099-01-01 }',
      '  - { id: E2, ecosystem: pypi, package: "scipy", view: "*", reason: r, expires: 2001-01-01 }',
    ].join('\n'),
  };

  it('normalises names (PEP 503) and applies PEP 440 specifiers', async () => {
    const { policy } = await load(files);
    const d = (name: string, version: string, view = 'default') => policy.decide({ ecosystem: 'pypi', name, version, view });
    expect(d('requests-toolbelt', '1.0').allowed).toBe(true);
    expect(d('REQUESTS.toolbelt', '1.0').allowed).toBe(true);
    expect(d('numpy', '1.26.4').allowed).toBe(true);
    expect(d('numpy', '2.0.0')).toMatchObject({ allowed: false, code: 'version-not-allowed' });
    expect(d('numpy', '1.27.0rc1').allowed).toBe(false); // PEP 440: no pre-releases unless asked
    expect(d('torch', '2.3.0rc1').allowed).toBe(true);
    expect(d('pandas', '2.0')).toMatchObject({ allowed: false, code: 'not-listed' });
    expect(d('pandas', '2.0').reason).toContain('see safelist why pandas');
  });

  it('scopes exceptions to their view and ignores expired ones', async () => {
    const { policy } = await load(files);
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '2.0.0', view: 'team-a' })).toMatchObject({
      allowed: true,
      rule: { id: 'E1' },
    });
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '2.0.0', view: 'team-b' }).allowed).toBe(false);
    const expired = policy.decide({ ecosystem: 'pypi', name: 'scipy', version: '1.0', view: 'default' });
    expect(expired).toMatchObject({ allowed: false, code: 'not-listed' });
    expect(expired.reason).toContain('expired on 2001-01-01');
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '2.0.0', view: 'team-a', now: new Date('2099-01-02') }).allowed).toBe(
      false,
    );
  });

  it('holds back young versions in a cool-down view, unless an exception names them', async () => {
    const { policy } = await load(files);
    const now = new Date('2026-11-25T00:00:00Z');
    const young = new Date('2026-11-22T00:00:00Z');
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '1.26.4', view: 'team-b', uploadTime: young, now })).toMatchObject({
      allowed: false,
      code: 'cooldown',
    });
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '1.26.4', view: 'default', uploadTime: young, now }).allowed).toBe(
      true,
    );
    expect(
      policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '1.26.4', view: 'team-b', uploadTime: new Date('2026-11-01'), now })
        .allowed,
    ).toBe(true);
  });

  it('refuses unknown views', async () => {
    const { policy } = await load(files);
    expect(policy.decide({ ecosystem: 'pypi', name: 'numpy', version: '1.26.4', view: 'nope' })).toMatchObject({
      allowed: false,
      code: 'unknown-view',
    });
  });
});

describe('one question per project', () => {
  it('answers each version as decide() would, and holds until the first expiry or cool-down end', async () => {
    const { policy } = await load({
      'allowlists/pypi.yaml': 'packages:\n  - requests>=2,<3\n',
      'exceptions/team.yaml': [
        'exceptions:',
        '  - { id: EXC-9, ecosystem: pypi, package: "requests==3.0", view: team-b, reason: trial, expires: 2099-06-01 }',
      ].join('\n'),
    });
    const now = new Date('2099-01-01T00:00:00Z');
    const fresh = new Date('2098-12-30T00:00:00Z'); // inside team-b's 7-day cool-down
    const versions = [{ version: '2.1' }, { version: '2.2', uploadTime: fresh }, { version: '3.0' }, { version: '4.0' }];
    const answer = policy.decideProject({ ecosystem: 'pypi', name: 'requests', view: 'team-b', versions, now });
    expect(answer.visible).toBe(true);
    const one = (v: (typeof versions)[number]) =>
      policy.decide({
        ecosystem: 'pypi',
        name: 'requests',
        version: v.version,
        view: 'team-b',
        now,
        ...(v.uploadTime ? { uploadTime: v.uploadTime } : {}),
      });
    expect(answer.decisions).toEqual(versions.map(one));
    expect(answer.decisions.map((d) => d.code)).toEqual(['allowed', 'cooldown', 'allowed', 'version-not-allowed']);
    // The cool-down of 2.2 ends before the exception expires: that is when the answer changes.
    expect(answer.validUntil).toBe(fresh.getTime() + 7 * 24 * 3600 * 1000);
  });

  it('gives no decisions for a project no rule in force names in the view', async () => {
    const { policy } = await load({ 'allowlists/pypi.yaml': 'packages:\n  - requests\n' });
    const answer = policy.decideProject({ ecosystem: 'pypi', name: 'flask', view: 'default', versions: [{ version: '1.0' }] });
    expect(answer).toEqual({ visible: false, decisions: [], validUntil: Infinity });
  });
});
