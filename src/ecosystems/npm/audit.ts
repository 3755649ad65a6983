// npm's audit endpoint (`POST /npm/{view}/-/npm/v1/security/advisories/bulk`), answered from the
// OSV advisories Safelist imports. npm (arborist's audit-report.js) posts `{ name: [versions] }`,
// gzip-encoded, and expects `{ name: [{ id, url, title, severity, vulnerable_versions, cwe, cvss }] }`
// with only the advisories that affect at least one of the versions sent; @npmcli/metavuln-calculator
// then applies `vulnerable_versions` (a semver range) to the packument itself.
// It must never answer a body it could not read with an empty report (that reads as "no
// vulnerabilities"): a bad body is a 400 that says what to fix, an unreadable database a 503.
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import semver from 'semver';
import { z } from 'zod';
import { errors, SafelistError } from '../../errors.js';
import type { AdvisorySource, OsvAdvisory, OsvAffectedEntry } from '../types.js';
import { cvss3BaseScore } from './cvss.js';

/** One advisory in npm's bulk format. */
export interface NpmBulkAdvisory {
  id: string;
  url: string;
  title: string;
  severity: 'info' | 'low' | 'moderate' | 'high' | 'critical';
  vulnerable_versions: string;
  cwe: string[];
  cvss: { score: number; vectorString: string | null };
}

/** Limits of one request: npm sends one entry per package name in the tree. */
export const AUDIT_LIMITS = { compressedBytes: 2 * 1024 * 1024, jsonBytes: 16 * 1024 * 1024, names: 20_000, versionsPerName: 200 };

const bulkBody = z
  .record(z.string().min(1).max(214), z.array(z.string().min(1).max(256)).max(AUDIT_LIMITS.versionsPerName))
  .refine((o) => Object.keys(o).length <= AUDIT_LIMITS.names, { message: `at most ${AUDIT_LIMITS.names} package names per request` });

/** The request body as npm sends it (JSON, gzip-encoded or not), or a 400 that says what is wrong. */
export function parseBulkRequest(raw: Buffer, contentEncoding: string | undefined): Record<string, string[]> {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  let json: Buffer;
  if (encoding === 'gzip' || encoding === 'x-gzip') {
    try {
      json = gunzipSync(raw, { maxOutputLength: AUDIT_LIMITS.jsonBytes });
    } catch (err) {
      const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      throw errors.badRequest(
        tooLarge
          ? `the audit request is larger than ${AUDIT_LIMITS.jsonBytes} bytes once unzipped: audit fewer packages at a time`
          : `the body is marked content-encoding: gzip but is not gzip data (${(err as Error).message})`,
      );
    }
  } else if (encoding === 'identity') json = raw;
  else throw errors.badRequest(`content-encoding ${encoding} is not supported: send the body as gzip or plain JSON`);
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw errors.badRequest(`the body is not JSON (${(err as Error).message}): send { "package-name": ["1.0.0", …] }`);
  }
  const parsed = bulkBody.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length ? ` at ${issue.path.map(String).join('.')}` : '';
    throw errors.badRequest(`the body must be { "package-name": ["1.0.0", …] }${at}: ${issue.message}`);
  }
  return parsed.data;
}

/** npm's answer: for each name, the advisories that affect any of the versions asked about. */
export async function bulkAdvisories(
  source: AdvisorySource,
  request: Record<string, string[]>,
): Promise<Record<string, NpmBulkAdvisory[]>> {
  const names = Object.keys(request);
  const out: Record<string, NpmBulkAdvisory[]> = {};
  if (!names.length) return out;
  let records: OsvAdvisory[];
  try {
    records = await source.recordsFor('npm', names);
  } catch (err) {
    if (err instanceof SafelistError) throw err;
    throw errors.unavailable(`advisories cannot be read now (${(err as Error).message}); run npm audit again shortly`);
  }
  for (const name of names) {
    const versions = request[name]!;
    for (const rec of records) {
      if (rec.withdrawn) continue;
      const range = vulnerableRange(rec, name);
      if (range === undefined || !versions.some((v) => satisfies(v, range))) continue;
      (out[name] ??= []).push(toNpmAdvisory(rec, range));
    }
  }
  return out;
}

/**
 * Whether one OSV `affected` entry covers an npm version (triage's and the malware rules'
 * question, in semver order). Fails closed like the PEP 440 default: a version semver cannot
 * read is affected when the entry names it or has a range with a start.
 */
export function npmAffects(entry: OsvAffectedEntry, version: string): boolean {
  const range = entryRange(entry);
  if (range === '*') return true;
  if (semver.valid(version, { loose: true })) return satisfies(version, range);
  const started = (entry.ranges ?? []).some((r) => (r.events ?? []).some((e) => e.introduced !== undefined));
  return started || (entry.versions ?? []).includes(version);
}

function satisfies(version: string, range: string): boolean {
  return semver.satisfies(version, range, { includePrerelease: true, loose: true });
}

/** The semver range of every `affected` entry of `rec` about npm package `name`, or undefined when none is. */
export function vulnerableRange(rec: OsvAdvisory, name: string): string | undefined {
  const entries = (rec.affected ?? []).filter(
    (a) => a.package?.ecosystem?.toLowerCase() === 'npm' && a.package.name?.toLowerCase() === name.toLowerCase(),
  );
  if (!entries.length) return undefined;
  const parts = entries.map(entryRange);
  return parts.includes('*') ? '*' : parts.join(' || ');
}

/**
 * One `affected` entry as a semver range: its explicit versions, and each introduced → fixed /
 * last_affected span of its SEMVER and ECOSYSTEM ranges. An entry that names neither, or whose
 * events cannot be read as semver, affects every version (fail closed: an advisory we cannot
 * read is not an advisory that does not apply).
 */
export function entryRange(entry: OsvAffectedEntry): string {
  const parts = (entry.versions ?? []).filter((v) => semver.valid(v, { loose: true })).map((v) => `=${v}`);
  let unreadable = (entry.versions ?? []).length > parts.length;
  for (const r of entry.ranges ?? []) {
    if (r.type !== 'SEMVER' && r.type !== 'ECOSYSTEM') continue;
    const spans = spansOf(r.events ?? []);
    if (spans === undefined) unreadable = true;
    else parts.push(...spans);
  }
  if (unreadable || !parts.length) return '*';
  return parts.join(' || ');
}

/** introduced/fixed/last_affected events (in version order) as semver comparator sets. */
function spansOf(events: NonNullable<NonNullable<OsvAffectedEntry['ranges']>[number]['events']>): string[] | undefined {
  const points = events.map((e) => {
    const [kind, v] = Object.entries(e)[0] ?? ['', ''];
    return { kind, v: String(v) };
  });
  if (points.some((p) => p.v !== '0' && !semver.valid(p.v, { loose: true }))) return undefined;
  points.sort((a, b) => (a.v === '0' ? -1 : b.v === '0' ? 1 : semver.compare(a.v, b.v, { loose: true })));
  const spans: string[] = [];
  let from: string | undefined;
  for (const { kind, v } of points) {
    if (kind === 'introduced') from ??= v === '0' ? '>=0.0.0-0' : `>=${v}`;
    else if (from !== undefined && (kind === 'fixed' || kind === 'last_affected' || kind === 'limit')) {
      spans.push(`${from} ${kind === 'last_affected' ? '<=' : '<'}${v}`);
      from = undefined;
    }
  }
  if (from !== undefined) spans.push(from);
  return spans;
}

const SEVERITIES: Record<string, NpmBulkAdvisory['severity']> = {
  info: 'info',
  low: 'low',
  moderate: 'moderate',
  medium: 'moderate',
  high: 'high',
  critical: 'critical',
};

function toNpmAdvisory(rec: OsvAdvisory, range: string): NpmBulkAdvisory {
  const vector = rec.severity?.find((s) => s.type === 'CVSS_V3' && s.score)?.score ?? null;
  const score = vector ? cvss3BaseScore(vector) : undefined;
  return {
    id: rec.id,
    url: advisoryUrl(rec),
    title: rec.summary ?? rec.details?.split('\n')[0]?.slice(0, 200) ?? rec.id,
    severity: severityOf(rec, score),
    vulnerable_versions: range,
    cwe: rec.database_specific?.cwe_ids ?? [],
    cvss: { score: score ?? 0, vectorString: score === undefined ? null : vector },
  };
}

/** The record's own severity; else from its CVSS score; else "critical" for malware and npm's own default, "high". */
function severityOf(rec: OsvAdvisory, score: number | undefined): NpmBulkAdvisory['severity'] {
  const named = SEVERITIES[(rec.database_specific?.severity ?? '').toLowerCase()];
  if (named) return named;
  if (score !== undefined) return score === 0 ? 'info' : score < 4 ? 'low' : score < 7 ? 'moderate' : score < 9 ? 'high' : 'critical';
  return rec.id.startsWith('MAL-') ? 'critical' : 'high';
}

function advisoryUrl(rec: OsvAdvisory): string {
  const refs = rec.references ?? [];
  const ref = refs.find((r) => r.type === 'ADVISORY' && r.url) ?? refs.find((r) => r.url);
  return ref?.url ?? `https://osv.dev/vulnerability/${encodeURIComponent(rec.id)}`;
}

export interface NpmAuditRouteDeps {
  advisories: AdvisorySource;
  /** The policy in force (an unknown view is a 404 naming the known ones). */
  policy: () => { hasView(view: string): boolean; viewNames(): string[] };
}

/**
 * Registers the bulk advisory route in its own scope: the body is read as bytes (npm gzips it,
 * which the app's JSON parser cannot read) and limited before it is unzipped.
 */
export function registerNpmAuditRoute(app: FastifyInstance, deps: NpmAuditRouteDeps): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: AUDIT_LIMITS.compressedBytes }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { view: string } }>('/npm/:view/-/npm/v1/security/advisories/bulk', async (req, reply) => {
      const policy = deps.policy();
      if (!policy.hasView(req.params.view)) throw errors.unknownView(req.params.view, policy.viewNames());
      if (!Buffer.isBuffer(req.body)) throw errors.badRequest('the body is empty: send { "package-name": ["1.0.0", …] }');
      const request = parseBulkRequest(req.body, req.headers['content-encoding']);
      return reply.header('cache-control', 'no-store').send(await bulkAdvisories(deps.advisories, request));
    });
  });
}
