// The container policy: validation with file:line, each rule (threshold, counts, fixable-only,
// grace period, fix deadline, exceptions with expiry and repository scope, per-repository
// overrides, report-only), and verdicts that name each failing finding with the rule it failed.
import { describe, expect, it } from 'vitest';
import { evaluate, parseContainerPolicy, repositoryMatches, type ContainerPolicy } from '../../src/gate/policy.js';
import type { Finding } from '../../src/gate/types.js';

const image = { registry: 'acr', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
const now = new Date('2026-11-25T12:00:00Z');
const f = (id: string, severity: Finding['severity'], extra: Partial<Finding> = {}): Finding => ({
  id,
  severity,
  package: 'pkg',
  installedVersion: '1',
  fixable: true,
  source: 'trivy',
  publishedAt: '2025-01-01T00:00:00Z',
  ...extra,
});

function policy(yaml: string): ContainerPolicy {
  const r = parseContainerPolicy(yaml, 'containers.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.policy;
}

describe('container policy file', () => {
  it('reports every problem with file and line', () => {
    const r = parseContainerPolicy(
      [
        'severity: hihg',
        'exceptions:',
        '  - cve: CVE-2024-1',
        '    owner: me@example.com',
        '    justification: short',
        '    expires: 31/12/2026',
        'surprise: 1',
        '',
      ].join('\n'),
      'allowlists/containers.yaml',
    );
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems.map((p) => `${p.file}:${p.line}`).sort();
    expect(problems).toEqual([
      'allowlists/containers.yaml:1',
      'allowlists/containers.yaml:1',
      'allowlists/containers.yaml:5',
      'allowlists/containers.yaml:6',
    ]);
    const text = r.ok ? '' : r.problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/severity: Invalid option/);
    expect(text).toMatch(/exceptions\.0\.justification: say why, in at least 10 characters/);
    expect(text).toMatch(/exceptions\.0\.expires: a date YYYY-MM-DD/);
    expect(text).toMatch(/surprise/);
  });

  it('reports YAML syntax errors with their line', () => {
    const r = parseContainerPolicy('severity: high\nexceptions: [\n', 'c.yaml');
    expect(r.ok).toBe(false);
    expect(r.ok ? 0 : r.problems[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('matches repository patterns per path segment', () => {
    expect(repositoryMatches('team/*', 'team/app')).toBe(true);
    expect(repositoryMatches('team/*', 'team/app/sub')).toBe(false);
    expect(repositoryMatches('team/**', 'team/app/sub')).toBe(true);
    expect(repositoryMatches('team/app', 'team/application')).toBe(false);
  });
});

describe('container verdicts', () => {
  it('fails findings at or above the threshold and names the rule', () => {
    const v = evaluate(policy('severity: high\n'), image, [f('CVE-1', 'critical'), f('CVE-2', 'high'), f('CVE-3', 'medium')], now);
    expect(v.outcome).toBe('fail');
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['CVE-1', 'severity critical is at or above the threshold high'],
      ['CVE-2', 'severity high is at or above the threshold high'],
    ]);
    expect(v.reported.map((x) => x.finding.id)).toEqual(['CVE-3']);
  });

  it('fails on counts above maxCounts, listing each counted finding', () => {
    const p = policy('severity: critical\nmaxCounts: { medium: 1 }\n');
    expect(evaluate(p, image, [f('CVE-1', 'medium')], now).outcome).toBe('pass');
    const v = evaluate(p, image, [f('CVE-1', 'medium'), f('CVE-2', 'medium'), f('CVE-3', 'low')], now);
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['CVE-1', '2 medium findings exceed maxCounts.medium = 1'],
      ['CVE-2', '2 medium findings exceed maxCounts.medium = 1'],
    ]);
    expect(v.reported.map((x) => x.finding.id)).toEqual(['CVE-3']);
  });

  it('with fixableOnly, unfixed findings still appear, as reported', () => {
    const v = evaluate(policy('fixableOnly: true\n'), image, [f('CVE-1', 'critical', { fixable: false })], now);
    expect(v.outcome).toBe('pass');
    expect(v.reported).toEqual([{ finding: expect.objectContaining({ id: 'CVE-1' }), note: 'no fix available (fixableOnly)' }]);
  });

  it('gives newly published findings the grace period, but not critical ones nor ones without a date', () => {
    const p = policy('gracePeriod: 7d\n');
    const fresh = '2026-11-22T00:00:00Z';
    const v = evaluate(
      p,
      image,
      [
        f('CVE-NEW', 'high', { publishedAt: fresh }),
        f('CVE-CRIT', 'critical', { publishedAt: fresh }),
        f('CVE-NODATE', 'high', { publishedAt: undefined as never }),
      ],
      now,
    );
    expect(v.failures.map((x) => x.finding.id)).toEqual(['CVE-CRIT', 'CVE-NODATE']);
    expect(v.reported[0]!.note).toBe('published 2026-11-22, within the grace period of 7d');
  });

  it('fails a fixable finding that would not fail otherwise once its fix is older than fixDeadline, naming the date', () => {
    const p = policy('severity: critical\ngracePeriod: 7d\nfixDeadline: 30d\n');
    const v = evaluate(
      p,
      image,
      [
        f('CVE-OLD', 'medium', { fixedVersion: '2.3.1', fixSeenAt: '2026-10-01T08:00:00Z' }),
        f('CVE-RECENT', 'medium', { fixedVersion: '1.2', fixSeenAt: '2026-11-10T00:00:00Z' }),
        f('CVE-GRACE', 'high', { fixedVersion: '3.1', publishedAt: '2026-11-22T00:00:00Z', fixSeenAt: '2026-10-20T00:00:00Z' }),
        f('CVE-UNFIXED', 'low', { fixable: false, fixSeenAt: '2026-01-01T00:00:00Z' }),
      ],
      now,
    );
    expect(v.outcome).toBe('fail');
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['CVE-OLD', 'fix 2.3.1 available since 2026-10-01 (first seen by the gate), more than fixDeadline 30d ago'],
      ['CVE-GRACE', 'fix 3.1 available since 2026-10-20 (first seen by the gate), more than fixDeadline 30d ago'],
    ]);
    expect(v.reported.map((x) => [x.finding.id, x.note])).toEqual([
      [
        'CVE-RECENT',
        'severity medium is below the threshold critical; fix 1.2 available since 2026-11-10 (first seen by the gate); fails after 2026-12-10 (fixDeadline 30d)',
      ],
      ['CVE-UNFIXED', 'severity low is below the threshold critical'],
    ]);
  });

  it("prefers the scanner's fix release date to the gate's first sighting, and fails closed when neither dates a fix", () => {
    const p = policy('severity: critical\nfixDeadline: 30d\n');
    const v = evaluate(
      p,
      image,
      [
        f('USN-1', 'low', {
          source: 'defender',
          fixedVersion: '1.1',
          fixReleasedAt: '2026-09-01T00:00:00Z',
          fixSeenAt: '2026-11-20T00:00:00Z',
        }),
        f('CVE-NEW-RELEASE', 'low', {
          source: 'defender',
          fixedVersion: '1.2',
          fixReleasedAt: '2026-11-20T00:00:00Z',
          fixSeenAt: '2026-01-01T00:00:00Z',
        }),
        f('CVE-BAD-DATE', 'low', { fixedVersion: '1.3', fixReleasedAt: 'soon', fixSeenAt: '2026-11-01T00:00:00Z' }),
        f('CVE-NODATE', 'low', { fixedVersion: '1.4' }),
      ],
      now,
    );
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['USN-1', 'fix 1.1 available since 2026-09-01 (released, per defender), more than fixDeadline 30d ago'],
      [
        'CVE-NODATE',
        'fix 1.4 is available since an unknown date (neither the scanner nor the gate dates it), treated as more than fixDeadline 30d ago',
      ],
    ]);
    expect(v.reported.map((x) => x.finding.id)).toEqual(['CVE-NEW-RELEASE', 'CVE-BAD-DATE']);
    expect(v.reported[1]!.note).toMatch(/since 2026-11-01 \(first seen by the gate\)/);
  });

  it('lets exceptions cover a finding past its fix deadline, and repositories set or lift the deadline', () => {
    const p = policy(
      [
        'severity: critical',
        'fixDeadline: 30d',
        'exceptions:',
        '  - { cve: CVE-EXC, owner: a@example.com, justification: the upgrade breaks the model server, expires: 2026-12-31 }',
        'repositories:',
        '  - { match: "team/*", fixDeadline: 90d }',
        '  - { match: "lab/**", fixDeadline: 0s }',
        '',
      ].join('\n'),
    );
    const old = (id: string) => f(id, 'medium', { fixedVersion: '2', fixSeenAt: '2026-09-01T00:00:00Z' });
    const v = evaluate(p, image, [old('CVE-EXC'), old('CVE-1')], now);
    expect(v.exempted.map((x) => x.finding.id)).toEqual(['CVE-EXC']);
    expect(v.outcome).toBe('pass');
    expect(v.reported[0]!.note).toMatch(/fails after 2026-11-30 \(fixDeadline 90d\)$/);
    expect(evaluate(p, { ...image, repository: 'ops/tool' }, [old('CVE-1')], now).failures.map((x) => x.rule)).toEqual([
      'fix 2 available since 2026-09-01 (first seen by the gate), more than fixDeadline 30d ago',
    ]);
    expect(evaluate(p, { ...image, repository: 'lab/x/y' }, [old('CVE-1')], now).outcome).toBe('pass');
  });

  it('reports a malformed fixDeadline with file and line', () => {
    const r = parseContainerPolicy(
      'severity: high\nrepositories:\n  - match: "team/*"\n    fixDeadline: 30 days\n',
      'allowlists/containers.yaml',
    );
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems.map((x) => `${x.file}:${x.line}: ${x.message}`)).toEqual([
      'allowlists/containers.yaml:4: repositories.0.fixDeadline: a duration such as 12h, 7d or 2w',
    ]);
  });

  it('applies exceptions until they expire, and only to the repositories they name', () => {
    const p = policy(
      [
        'exceptions:',
        '  - { cve: CVE-1, owner: a@example.com, justification: accepted until the base image moves, expires: 2026-12-31 }',
        '  - { cve: CVE-2, owner: a@example.com, justification: expired long ago and never renewed, expires: 2026-01-01 }',
        '  - { cve: CVE-3, owner: a@example.com, justification: only for the other team, expires: 2099-01-01, repositories: ["other/*"] }',
        '',
      ].join('\n'),
    );
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'high'), f('CVE-3', 'high')], now);
    expect(v.exempted.map((x) => [x.finding.id, x.exception.owner, x.exception.expires])).toEqual([
      ['CVE-1', 'a@example.com', '2026-12-31'],
    ]);
    expect(v.failures.map((x) => x.finding.id)).toEqual(['CVE-2', 'CVE-3']);
  });

  it('caps the length of exceptions by severity (exceptionMaxDays)', () => {
    const p = policy(
      [
        'exceptionMaxDays: { critical: 7, high: 30 }',
        'exceptions:',
        '  - { cve: CVE-1, owner: a@example.com, justification: waiting for the vendor fix, created: 2026-11-20, expires: 2026-12-15 }',
        '  - { cve: CVE-2, owner: a@example.com, justification: waiting for the vendor fix, created: 2026-11-20, expires: 2026-12-15 }',
        '  - { cve: CVE-3, owner: a@example.com, justification: no creation date recorded, expires: 2026-12-01 }',
        '',
      ].join('\n'),
    );
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'critical'), f('CVE-3', 'high'), f('CVE-4', 'medium')], now);
    expect(v.exempted.map((x) => x.finding.id)).toEqual(['CVE-1']);
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      [
        'CVE-2',
        'severity critical is at or above the threshold high; not exempted: the exception for CVE-2 (owner a@example.com) runs 25 days, longer than the 7 days allowed for critical findings (exceptionMaxDays.critical)',
      ],
      [
        'CVE-3',
        'severity high is at or above the threshold high; not exempted: the exception for CVE-3 (owner a@example.com) has no "created" date, and exceptions for high findings may last at most 30 days (exceptionMaxDays.high)',
      ],
    ]);
  });

  it('lets repository overrides change rules, including report-only', () => {
    const p = policy(
      [
        'severity: medium',
        'repositories:',
        '  - match: "team/*"',
        '    severity: critical',
        '  - match: "team/app"',
        '    reportOnly: true',
        '',
      ].join('\n'),
    );
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'critical')], now);
    expect(v.outcome).toBe('fail');
    expect(v.reportOnly).toBe(true);
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['CVE-2', 'severity critical is at or above the threshold critical (repository rules: team/*, team/app)'],
    ]);
    expect(evaluate(p, { ...image, repository: 'ops/tool' }, [f('CVE-1', 'medium')], now).outcome).toBe('fail');
  });

  it('passes an image with no findings, saying so', () => {
    const v = evaluate(policy(''), image, [], now);
    expect(v.outcome).toBe('pass');
    expect(v.reasons).toEqual(['no finding fails the container policy (0 reported, 0 exempted)']);
  });
});
