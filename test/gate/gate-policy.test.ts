// The container policy: validation with file:line, each rule (threshold, counts, fixable-only,
// grace period, exceptions with expiry and repository scope, per-repository overrides,
// report-only), and verdicts that name each failing finding with the rule it failed.
import { describe, expect, it } from 'vitest';
import { evaluate, parseContainerPolicy, repositoryMatches, type ContainerPolicy } from '../../src/gate/policy.js';
import type { Finding } from '../../src/gate/types.js';

const image = { registry: 'acr', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
const now = new Date('2026-11-25T12:00:00Z');
const f = (id: string, severity: Finding['severity'], extra: Partial<Finding> = {}): Finding => ({ id, severity, package: 'pkg', installedVersion: '1', fixable: true, source: 'trivy', publishedAt: '2025-01-01T00:00:00Z', ...extra });

function policy(yaml: string): ContainerPolicy {
  const r = parseContainerPolicy(yaml, 'containers.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.policy;
}

describe('container policy file', () => {
  it('reports every problem with file and line', () => {
    const r = parseContainerPolicy(['severity: hihg', 'exceptions:', '  - cve: CVE-2024-1', '    owner: me@example.com', '    justification: short', '    expires: 31/12/2026', 'surprise: 1', ''].join('\n'), 'allowlists/containers.yaml');
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems.map((p) => `${p.file}:${p.line}`).sort();
    expect(problems).toEqual(['allowlists/containers.yaml:1', 'allowlists/containers.yaml:1', 'allowlists/containers.yaml:5', 'allowlists/containers.yaml:6']);
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
    const v = evaluate(p, image, [f('CVE-NEW', 'high', { publishedAt: fresh }), f('CVE-CRIT', 'critical', { publishedAt: fresh }), f('CVE-NODATE', 'high', { publishedAt: undefined as never })], now);
    expect(v.failures.map((x) => x.finding.id)).toEqual(['CVE-CRIT', 'CVE-NODATE']);
    expect(v.reported[0]!.note).toBe('published 2026-11-22, within the grace period of 7d');
  });

  it('applies exceptions until they expire, and only to the repositories they name', () => {
    const p = policy([
      'exceptions:',
      '  - { cve: CVE-1, owner: a@example.com, justification: accepted until the base image moves, expires: 2026-12-31 }',
      '  - { cve: CVE-2, owner: a@example.com, justification: expired long ago and never renewed, expires: 2026-01-01 }',
      '  - { cve: CVE-3, owner: a@example.com, justification: only for the other team, expires: 2099-01-01, repositories: ["other/*"] }',
      '',
    ].join('\n'));
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'high'), f('CVE-3', 'high')], now);
    expect(v.exempted.map((x) => [x.finding.id, x.exception.owner, x.exception.expires])).toEqual([['CVE-1', 'a@example.com', '2026-12-31']]);
    expect(v.failures.map((x) => x.finding.id)).toEqual(['CVE-2', 'CVE-3']);
  });

  it('caps the length of exceptions by severity (exceptionMaxDays)', () => {
    const p = policy([
      'exceptionMaxDays: { critical: 7, high: 30 }',
      'exceptions:',
      '  - { cve: CVE-1, owner: a@example.com, justification: waiting for the vendor fix, created: 2026-11-20, expires: 2026-12-15 }',
      '  - { cve: CVE-2, owner: a@example.com, justification: waiting for the vendor fix, created: 2026-11-20, expires: 2026-12-15 }',
      '  - { cve: CVE-3, owner: a@example.com, justification: no creation date recorded, expires: 2026-12-01 }',
      '',
    ].join('\n'));
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'critical'), f('CVE-3', 'high'), f('CVE-4', 'medium')], now);
    expect(v.exempted.map((x) => x.finding.id)).toEqual(['CVE-1']);
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([
      ['CVE-2', 'severity critical is at or above the threshold high; not exempted: the exception for CVE-2 (owner a@example.com) runs 25 days, longer than the 7 days allowed for critical findings (exceptionMaxDays.critical)'],
      ['CVE-3', 'severity high is at or above the threshold high; not exempted: the exception for CVE-3 (owner a@example.com) has no "created" date, and exceptions for high findings may last at most 30 days (exceptionMaxDays.high)'],
    ]);
  });

  it('lets repository overrides change rules, including report-only', () => {
    const p = policy(['severity: medium', 'repositories:', '  - match: "team/*"', '    severity: critical', '  - match: "team/app"', '    reportOnly: true', ''].join('\n'));
    const v = evaluate(p, image, [f('CVE-1', 'high'), f('CVE-2', 'critical')], now);
    expect(v.outcome).toBe('fail');
    expect(v.reportOnly).toBe(true);
    expect(v.failures.map((x) => [x.finding.id, x.rule])).toEqual([['CVE-2', 'severity critical is at or above the threshold critical (repository rules: team/*, team/app)']]);
    expect(evaluate(p, { ...image, repository: 'ops/tool' }, [f('CVE-1', 'medium')], now).outcome).toBe('fail');
  });

  it('passes an image with no findings, saying so', () => {
    const v = evaluate(policy(''), image, [], now);
    expect(v.outcome).toBe('pass');
    expect(v.reasons).toEqual(['no finding fails the container policy (0 reported, 0 exempted)']);
  });
});
