// The container policy: a reviewed YAML file (allowlists/containers.yaml) validated with zod,
// every problem reported as file:line, and evaluate() which turns scan findings into a verdict
// that names each failing finding and the rule it failed. A policy file with problems never
// yields a pass: the worker answers "no verdict" with the problems until it is fixed.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { durationMs } from '../config/schema.js';
import { SEVERITIES, SEVERITY_RANK, type Finding, type ImageRef, type Severity, type Verdict } from './types.js';

const severity = z.enum(SEVERITIES);
const duration = z.string().regex(/^(\d+)(ms|s|m|h|d|w)$/, 'a duration such as 12h, 7d or 2w');
const repoPattern = z.string().regex(/^[a-z0-9*][a-z0-9._/*-]*$/, 'a repository name or pattern ("team/app", "team/*", "**")');
const counts = z.partialRecord(severity, z.number().int().min(0));

/** The rules that can be set globally and overridden per repository. */
const rules = {
  /** Findings at this severity or worse fail. */
  severity: severity.optional(),
  /** More than N findings at a severity fail the image (N = 0 allowed). */
  maxCounts: counts.optional(),
  /** Only findings with a fix fail; unfixed ones are still reported. */
  fixableOnly: z.boolean().optional(),
  /** Findings published less than this ago do not fail yet (critical ones always do). */
  gracePeriod: duration.optional(),
  /**
   * A fixable finding that would not fail otherwise (below the threshold, in the grace period)
   * fails once its fix has been available for longer than this (Anchore's max_days_since_fix).
   */
  fixDeadline: duration.optional(),
  /** Record verdicts, never purge. */
  reportOnly: z.boolean().optional(),
};

export const containerPolicySchema = z.strictObject({
  ...rules,
  /** The longest an exception may run (created → expires) for a finding of each severity. */
  exceptionMaxDays: counts.optional(),
  exceptions: z
    .array(
      z.strictObject({
        cve: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:=-]{2,120}$/, 'an advisory id such as CVE-2024-3094 or GHSA-…'),
        owner: z.string().min(3, 'who answers for it (an e-mail or team)'),
        justification: z.string().trim().min(10, 'say why, in at least 10 characters'),
        /** When it was granted; needed where exceptionMaxDays caps its length. */
        created: z.iso.date({ error: 'a date YYYY-MM-DD' }).optional(),
        expires: z.iso.date({ error: 'a date YYYY-MM-DD' }),
        /** Only these repositories (patterns); default: every repository. */
        repositories: z.array(repoPattern).optional(),
      }),
    )
    .default([]),
  repositories: z.array(z.strictObject({ match: repoPattern, ...rules })).default([]),
});

export type ContainerPolicyFile = z.infer<typeof containerPolicySchema>;

export interface PolicyProblem {
  file: string;
  line: number;
  message: string;
}

export interface ContainerPolicy {
  file: string;
  spec: ContainerPolicyFile;
}

export type LoadedPolicy = { ok: true; policy: ContainerPolicy } | { ok: false; problems: PolicyProblem[] };

/** The defaults when the file does not set a rule. */
const DEFAULTS = {
  severity: 'high' as Severity,
  maxCounts: {},
  fixableOnly: false,
  gracePeriod: '0s',
  fixDeadline: '0s',
  reportOnly: false,
};

/** Parses and validates policy text; every problem carries the line it is on. */
export function parseContainerPolicy(text: string, file: string): LoadedPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).line);
  if (doc.errors.length)
    return { ok: false, problems: doc.errors.map((e) => ({ file, line: lineOf(e.pos[0]), message: e.message.split('\n')[0]! })) };
  const r = containerPolicySchema.safeParse(doc.toJS() ?? {});
  if (r.success) return { ok: true, policy: { file, spec: r.data } };
  const problems = r.error.issues.map((i) => {
    // The deepest node that exists on the issue's path gives the line.
    let node: unknown;
    for (let n = i.path.length; n >= 0 && !node; n--)
      node = n === 0 ? doc.contents : doc.getIn(i.path.slice(0, n) as Array<string | number>, true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    return { file, line: lineOf(range?.[0]), message: `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}` };
  });
  return { ok: false, problems };
}

/** Reads the policy file; a missing file means the defaults (severity high, no exceptions). */
export async function loadContainerPolicy(path: string): Promise<LoadedPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { ok: true, policy: { file: path, spec: containerPolicySchema.parse({}) } };
    throw err;
  }
  return parseContainerPolicy(text, path);
}

/** Glob for repository names: `*` within one path segment, `**` across segments. */
export function repositoryMatches(pattern: string, repository: string): boolean {
  const re = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`).test(repository);
}

/** The rules in force for a repository: defaults, the file's top level, then matching overrides in order. */
export function rulesFor(policy: ContainerPolicy, repository: string) {
  const { exceptions: _e, exceptionMaxDays: _m, repositories, ...top } = policy.spec;
  const out = { ...DEFAULTS, ...stripUndefined(top) };
  const applied: string[] = [];
  for (const o of repositories) {
    if (!repositoryMatches(o.match, repository)) continue;
    const { match, ...rest } = o;
    Object.assign(out, stripUndefined(rest));
    applied.push(match);
  }
  return { ...out, overrides: applied };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Why an exception may not cover a finding of this severity (its length is capped), if so. */
function exceptionTooLong(policy: ContainerPolicy, e: ContainerPolicyFile['exceptions'][number], severity: Severity): string | undefined {
  const max = policy.spec.exceptionMaxDays?.[severity];
  if (max === undefined) return undefined;
  const who = `the exception for ${e.cve} (owner ${e.owner})`;
  if (!e.created)
    return `${who} has no "created" date, and exceptions for ${severity} findings may last at most ${max} days (exceptionMaxDays.${severity})`;
  const days = (Date.parse(e.expires) - Date.parse(e.created)) / 86_400_000;
  return days > max
    ? `${who} runs ${days} days, longer than the ${max} days allowed for ${severity} findings (exceptionMaxDays.${severity})`
    : undefined;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Since when a finding's fix has been available, and on what evidence: the scanner's release
 * date when it gives one, else the first time the gate saw the finding as fixable (any image).
 */
export function fixAvailableSince(f: Finding): { at: number; basis: string } | undefined {
  const released = f.fixReleasedAt ? Date.parse(f.fixReleasedAt) : NaN;
  if (Number.isFinite(released)) return { at: released, basis: `released, per ${f.source}` };
  const seen = f.fixSeenAt ? Date.parse(f.fixSeenAt) : NaN;
  if (Number.isFinite(seen)) return { at: seen, basis: 'first seen by the gate' };
  return undefined;
}

/**
 * The fix deadline for a fixable finding: passed (the rule it fails, in words) or due (a date,
 * for the report). A fix with no date at all counts as past the deadline: fail closed.
 */
function fixDeadlineOf(f: Finding, deadline: string, deadlineMs: number, now: Date): { passed: string } | { due: string } | undefined {
  if (deadlineMs <= 0 || !f.fixable || f.breach) return undefined;
  const fix = f.fixedVersion ? `fix ${f.fixedVersion}` : 'a fix';
  const since = fixAvailableSince(f);
  if (!since)
    return {
      passed: `${fix} is available since an unknown date (neither the scanner nor the gate dates it), treated as more than fixDeadline ${deadline} ago`,
    };
  if (now.getTime() - since.at > deadlineMs)
    return { passed: `${fix} available since ${day(since.at)} (${since.basis}), more than fixDeadline ${deadline} ago` };
  return {
    due: `${fix} available since ${day(since.at)} (${since.basis}); fails after ${day(since.at + deadlineMs)} (fixDeadline ${deadline})`,
  };
}

/** Applies the policy to an image's findings. */
export function evaluate(policy: ContainerPolicy, image: ImageRef, findings: Finding[], now = new Date()): Verdict {
  const r = rulesFor(policy, image.repository);
  const where = r.overrides.length ? ` (repository rules: ${r.overrides.join(', ')})` : '';
  const verdict: Verdict = {
    outcome: 'pass',
    ...image,
    reportOnly: r.reportOnly,
    failures: [],
    exempted: [],
    reported: [],
    reasons: [],
    policy: policy.file,
    decidedAt: now.toISOString(),
  };
  const today = now.toISOString().slice(0, 10);
  const grace = durationMs(r.gracePeriod);
  const fixDeadlineMs = durationMs(r.fixDeadline);
  const counted: Partial<Record<Severity, Finding[]>> = {};
  for (const f of findings) {
    const exc = policy.spec.exceptions.find(
      (e) =>
        e.cve.toUpperCase() === f.id.toUpperCase() &&
        e.expires >= today &&
        (!e.repositories || e.repositories.some((p) => repositoryMatches(p, image.repository))),
    );
    const tooLong = exc ? exceptionTooLong(policy, exc, f.severity) : undefined;
    if (exc && !tooLong) {
      verdict.exempted.push({ finding: f, exception: { cve: exc.cve, owner: exc.owner, expires: exc.expires } });
      continue;
    }
    // An over-long exception does not apply; the finding meets the rules, and the verdict says why.
    const unexempted = tooLong ? `; not exempted: ${tooLong}` : '';
    if (f.breach) {
      verdict.failures.push({ finding: f, rule: f.breach });
      continue;
    }
    if (r.fixableOnly && !f.fixable) {
      verdict.reported.push({ finding: f, note: 'no fix available (fixableOnly)' });
      continue;
    }
    // What would not fail (in grace, below the threshold) still fails once its fix is too old.
    const deadline = fixDeadlineOf(f, r.fixDeadline, fixDeadlineMs, now);
    const spare = (note: string) => {
      if (deadline && 'passed' in deadline) verdict.failures.push({ finding: f, rule: `${deadline.passed}${where}${unexempted}` });
      else verdict.reported.push({ finding: f, note: deadline ? `${note}; ${deadline.due}` : note });
    };
    // Grace for newly published findings; an unknown publication date gets none (fail closed).
    const published = f.publishedAt ? Date.parse(f.publishedAt) : NaN;
    if (grace > 0 && f.severity !== 'critical' && Number.isFinite(published) && now.getTime() - published < grace) {
      spare(`published ${f.publishedAt!.slice(0, 10)}, within the grace period of ${r.gracePeriod}`);
      continue;
    }
    (counted[f.severity] ??= []).push(f);
    if (SEVERITY_RANK[f.severity] >= SEVERITY_RANK[r.severity]) {
      verdict.failures.push({ finding: f, rule: `severity ${f.severity} is at or above the threshold ${r.severity}${where}${unexempted}` });
    } else spare(`severity ${f.severity} is below the threshold ${r.severity}`);
  }
  for (const [sev, max] of Object.entries(r.maxCounts) as Array<[Severity, number]>) {
    const list = counted[sev] ?? [];
    if (list.length <= max) continue;
    for (const f of list) {
      if (verdict.failures.some((x) => x.finding === f)) continue;
      verdict.failures.push({ finding: f, rule: `${list.length} ${sev} findings exceed maxCounts.${sev} = ${max}${where}` });
      verdict.reported = verdict.reported.filter((x) => x.finding !== f);
    }
  }
  if (verdict.failures.length) {
    verdict.outcome = 'fail';
    verdict.reasons.push(
      `${verdict.failures.length} finding(s) fail the container policy${r.reportOnly ? ' (report-only: not enforced)' : ''}`,
    );
  } else verdict.reasons.push(`no finding fails the container policy (${findings.length} reported, ${verdict.exempted.length} exempted)`);
  return verdict;
}
