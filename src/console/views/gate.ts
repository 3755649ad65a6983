// The data of the console's gate page: images by registry and repository with their verdict,
// each failing finding with the rule that decided it, what enforcement did (block, purge), the
// history of one digest from the audit trail, and the container policy's per-CVE exceptions in
// force and expiring. It reads through GateStore, the audit log and the policy loader the API
// and worker use; it never judges an image itself or reads a verdict any other way.
import { z } from 'zod';
import type { AuditLog, AuditRecord } from '../../audit/log.js';
import { stat } from 'node:fs/promises';
import { loadContainerPolicy, type LoadedPolicy } from '../../gate/policy.js';
import type { GateStore, ImageRow, ImageState } from '../../gate/store.js';
import type { Verdict } from '../../gate/types.js';
import { parse } from '../../validate.js';

/** Exceptions that end within this many days are listed as expiring. */
export const EXPIRING_DAYS = 14;
const DAY_MS = 86_400_000;

const STATES = ['queued', 'waiting', 'pass', 'fail', 'no-verdict'] as const satisfies readonly ImageState[];

export const gateFilterSchema = z.strictObject({
  registry: z.string().max(200).optional(),
  repository: z.string().max(300).optional(),
  state: z.enum(STATES).optional(),
  digest: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/, 'a sha256 digest such as sha256:0123…(64 hex digits)')
    .optional(),
});
export type GateFilter = z.infer<typeof gateFilterSchema>;

/** The page's query, validated (a bad value is a 400 that names the parameter). */
export function parseGateFilter(query: unknown): GateFilter {
  const f = parse(gateFilterSchema, query, 'query');
  // An empty form field means "any".
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== '')) as GateFilter;
}

export interface GateImageView {
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
  state: ImageState;
  reason: string | null;
  reportOnly: boolean;
  failures: Array<{ id: string; severity: string; package: string; installed: string; fixed: string | null; rule: string }>;
  exempted: Array<{ id: string; severity: string; package: string; owner: string; expires: string }>;
  reported: number;
  blocked: string | null;
  purged: string | null;
  firstSeen: string;
  updatedAt: string;
}

export interface CveExceptionView {
  cve: string;
  owner: string;
  justification: string;
  expires: string;
  repositories: string[];
  daysLeft: number;
}

export interface GatePageView {
  filter: GateFilter;
  repositories: Array<{ registry: string; repository: string; images: GateImageView[] }>;
  /** More images matched than the page shows. */
  truncated: boolean;
  exceptions: { inForce: CveExceptionView[]; expiring: CveExceptionView[]; expired: CveExceptionView[] };
  /** The container policy file's problems (while it has any, the gate answers no verdict). */
  policyProblems: string[];
  /** The audit trail of the digest asked for (filter.digest), oldest first. */
  history?: AuditRecord[];
}

export function imageView(row: ImageRow, tags: string[]): GateImageView {
  const v: Verdict | null = row.verdict;
  return {
    registry: row.registry,
    repository: row.repository,
    digest: row.digest,
    tags,
    state: row.state,
    reason: row.reason,
    reportOnly: v?.reportOnly ?? false,
    failures: (v?.failures ?? []).map((f) => ({
      id: f.finding.id,
      severity: f.finding.severity,
      package: f.finding.package,
      installed: f.finding.installedVersion,
      fixed: f.finding.fixedVersion ?? null,
      rule: f.rule,
    })),
    exempted: (v?.exempted ?? []).map((e) => ({
      id: e.finding.id,
      severity: e.finding.severity,
      package: e.finding.package,
      owner: e.exception.owner,
      expires: e.exception.expires,
    })),
    reported: v?.reported.length ?? 0,
    blocked: row.blocked,
    purged: row.purged,
    firstSeen: row.firstSeen.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export interface GateViewDeps {
  store: GateStore;
  audit: AuditLog;
  /** The container policy file (policy.allowlistDir + gate.policyFile). */
  policyPath: string;
}

export async function gatePage(deps: GateViewDeps, filter: GateFilter, limit = 50, now = new Date()): Promise<GatePageView> {
  const rows = await deps.store.list({
    ...(filter.registry ? { registry: filter.registry } : {}),
    ...(filter.repository ? { repository: filter.repository } : {}),
    ...(filter.state ? { state: filter.state } : {}),
    ...(filter.digest ? { digest: filter.digest } : {}),
    limit: limit + 1,
  });
  const shown = rows.slice(0, limit);
  const groups = new Map<string, GatePageView['repositories'][number]>();
  for (const r of shown) {
    const key = `${r.registry}/${r.repository}`;
    if (!groups.has(key)) groups.set(key, { registry: r.registry, repository: r.repository, images: [] });
    groups.get(key)!.images.push(imageView(r, r.tags));
  }
  const [policy, history] = await Promise.all([
    cveExceptions(deps.policyPath, now),
    filter.digest ? digestHistory(deps, shown, filter.digest) : undefined,
  ]);
  return {
    filter,
    repositories: [...groups.values()],
    truncated: rows.length > limit,
    exceptions: policy.exceptions,
    policyProblems: policy.problems,
    ...(history ? { history } : {}),
  };
}

/** Everything the trail says about a digest: its reports, and each image's receipt, verdicts, enforcement. */
async function digestHistory(deps: GateViewDeps, rows: ImageRow[], digest: string): Promise<AuditRecord[]> {
  const subjects = [digest, ...new Set(rows.map((r) => `${r.registry}/${r.repository}@${digest}`))];
  const lists = await Promise.all(subjects.map((subject) => deps.audit.query({ subject, limit: 1000 })));
  return lists.flat().sort((a, b) => a.seq - b.seq);
}

const policyCache = new Map<string, { stamp: string; loaded: LoadedPolicy }>();

/** The policy file as loadContainerPolicy reads it, read again only when its size or mtime changed. */
async function loadCached(path: string): Promise<LoadedPolicy> {
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // no file: the defaults, as loadContainerPolicy says
    throw err;
  });
  const stamp = s ? `${s.size}:${s.mtimeMs}:${s.ino}` : 'missing';
  const hit = policyCache.get(path);
  if (hit?.stamp === stamp) return hit.loaded;
  const loaded = await loadContainerPolicy(path);
  policyCache.set(path, { stamp, loaded });
  return loaded;
}

/** The container policy's per-CVE exceptions, in force (and of those, expiring soon) and expired. */
export async function cveExceptions(
  policyPath: string,
  now = new Date(),
): Promise<{ exceptions: GatePageView['exceptions']; problems: string[] }> {
  const loaded = await loadCached(policyPath);
  if (!loaded.ok)
    return {
      exceptions: { inForce: [], expiring: [], expired: [] },
      problems: loaded.problems.map((p) => `${p.file}:${p.line}: ${p.message}`),
    };
  const today = now.toISOString().slice(0, 10);
  const all = loaded.policy.spec.exceptions.map((e) => ({
    cve: e.cve,
    owner: e.owner,
    justification: e.justification,
    expires: e.expires,
    repositories: e.repositories ?? ['**'],
    daysLeft: Math.floor((Date.parse(`${e.expires}T23:59:59.999Z`) - now.getTime()) / DAY_MS),
  }));
  // The same test as the policy's evaluate(): an exception is in force through its expiry day.
  const inForce = all.filter((e) => e.expires >= today).sort((a, b) => a.expires.localeCompare(b.expires));
  return {
    exceptions: {
      inForce,
      expiring: inForce.filter((e) => e.daysLeft < EXPIRING_DAYS),
      expired: all.filter((e) => e.expires < today).sort((a, b) => b.expires.localeCompare(a.expires)),
    },
    problems: [],
  };
}
