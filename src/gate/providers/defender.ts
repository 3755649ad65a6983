// Microsoft Defender for Containers through Azure Resource Graph: one query per poll for every
// pending digest, reading BOTH shapes Defender has used — the grouped sub-assessments
// (microsoft.security/assessments/subassessments, AzureContainerRegistryVulnerability, digest in
// additionalData.artifactDetails.digest; retired from 2026-07-31) and the per-finding
// SoftwareUpdate assessments of a .containerimage (digest in resourceAdditionalData.Digest,
// CVEs in additionalData.CvesDetails). Fail closed: no row for a digest is "not scanned yet";
// NotApplicable, an unknown row type or status, or a row without its digest is an error, never
// clean; 429 and the quota headers are honoured by waiting, not by hammering. Only the grouped
// shape dates a fix (softwareDetails.fixReference.releaseDate, on OS findings); the per-finding
// shape has no fix date, so the gate's own first-seen clock serves for fixDeadline there.
import type { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { SEVERITIES, type Finding, type ImageRef, type ScanProvider, type ScanResult, type Severity } from '../types.js';

type Graph = Pick<ResourceGraphClient, 'resources'>;

export interface DefenderOptions {
  /** Subscriptions to query; empty: every subscription the identity can read. */
  subscriptions: string[];
  /** Clock (tests of quota windows). */
  now?: () => number;
}

const SUB = 'microsoft.security/assessments/subassessments';
const ASSESSMENT = 'microsoft.security/assessments';
const MAX_PAGES = 50;

/** The KQL for a batch of digests: both shapes, filtered by digest, one row per finding. */
export function defenderQuery(digests: string[]): string {
  const list = digests.map((d) => `"${d}"`).join(', ');
  return [
    'securityresources',
    `| where (type =~ "${SUB}" and properties.additionalData.assessedResourceType == "AzureContainerRegistryVulnerability")`,
    `    or (type =~ "${ASSESSMENT}" and properties.metadata.recommendationCategory == "SoftwareUpdate" and properties.resourceDetails.ResourceType =~ ".containerimage")`,
    `| extend digest = iff(type =~ "${SUB}", tostring(properties.additionalData.artifactDetails.digest), tostring(parse_json(tostring(properties.resourceAdditionalData)).Digest))`,
    `| where digest in (${list})`,
    '| project id, type, digest, properties',
  ].join('\n');
}

function severityOf(s: unknown): Severity {
  const v = typeof s === 'string' ? s.toLowerCase() : '';
  return (SEVERITIES as readonly string[]).includes(v) ? (v as Severity) : 'unknown';
}

/** JSON that ARG may hand over as a string (parse_json(tostring(…)) fields) or as an object. */
function jsonField(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** hh:mm:ss (x-ms-user-quota-resets-after) in milliseconds. */
export function parseResetsAfter(v: string | undefined | null): number | undefined {
  const m = v ? /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(v.trim()) : null;
  return m ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 : undefined;
}

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(v: string | undefined | null, now: number): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

interface RowOutcome {
  digest?: string;
  findings?: Finding[];
  scanned?: boolean;
  error?: string;
}

/** Reads one row; anything it does not recognise is an error for the row's digest. */
export function readDefenderRow(row: unknown): RowOutcome {
  const r = obj(row);
  const props = obj(r?.properties);
  const type = str(r?.type)?.toLowerCase();
  if (!r || !props || !type) return { error: 'a Resource Graph row without type or properties' };
  const status = obj(props.status);
  const code = str(status?.code);
  if (type === SUB) {
    const ad = obj(props.additionalData);
    const digest = str(obj(ad?.artifactDetails)?.digest);
    if (!digest) return { error: `sub-assessment ${str(r.id) ?? '?'} has no additionalData.artifactDetails.digest` };
    if (ad?.assessedResourceType !== 'AzureContainerRegistryVulnerability')
      return { digest, error: `unknown sub-assessment shape (assessedResourceType ${String(ad?.assessedResourceType)})` };
    if (code === 'Healthy') return { digest, scanned: true, findings: [] };
    if (code === 'NotApplicable') {
      return {
        digest,
        error: `Defender reports ${str(props.id) ?? 'a finding'} as NotApplicable (${[str(status?.cause), str(status?.description)].filter(Boolean).join(': ') || 'not assessed'}); that is not a clean result — exemptions belong in containers.yaml`,
      };
    }
    if (code !== 'Unhealthy') return { digest, error: `unknown sub-assessment status ${String(code)}` };
    const vuln = obj(ad.vulnerabilityDetails);
    const sw = obj(ad.softwareDetails);
    const id = str(vuln?.cveId) ?? str(props.id);
    if (!id) return { digest, error: 'an Unhealthy sub-assessment without a CVE id' };
    const fixed = str(sw?.fixedVersion);
    // OS findings name the vendor advisory that shipped the fix (e.g. USN-6115-1) and its date.
    const released = str(obj(sw?.fixReference)?.releaseDate);
    return {
      digest,
      scanned: true,
      findings: [
        {
          id,
          severity: severityOf(status?.severity ?? vuln?.severity),
          package: str(sw?.packageName) ?? '',
          installedVersion: str(sw?.version) ?? '',
          ...(fixed ? { fixedVersion: fixed } : {}),
          fixable: sw?.fixStatus === 'FixAvailable' || Boolean(fixed),
          ...(str(vuln?.publishedDate) ? { publishedAt: str(vuln?.publishedDate)! } : {}),
          ...(released ? { fixReleasedAt: released } : {}),
          source: 'defender',
        },
      ],
    };
  }
  if (type === ASSESSMENT) {
    const image = obj(jsonField(props.resourceAdditionalData));
    const digest = str(image?.Digest);
    if (!digest) return { error: `assessment ${str(r.id) ?? '?'} has no resourceAdditionalData.Digest` };
    if (code === 'Healthy') return { digest, scanned: true, findings: [] };
    if (code === 'NotApplicable')
      return {
        digest,
        error: `Defender reports ${str(props.displayName) ?? 'an assessment'} as NotApplicable (${[str(status?.cause), str(status?.description)].filter(Boolean).join(': ') || 'not assessed'}); that is not a clean result`,
      };
    if (code !== 'Unhealthy') return { digest, error: `unknown assessment status ${String(code)}` };
    const ad = obj(props.additionalData);
    const cves = jsonField(ad?.CvesDetails);
    if (!Array.isArray(cves) || !cves.length)
      return { digest, error: 'an Unhealthy SoftwareUpdate assessment without CvesDetails (unknown shape)' };
    const pkg = str(ad?.SoftwareName) ?? '';
    const installed = Array.isArray(ad?.DetectedSoftwareVersions)
      ? (ad.DetectedSoftwareVersions as unknown[]).join(', ')
      : (str(ad?.DetectedSoftwareVersions) ?? '');
    const findings: Finding[] = [];
    for (const c of cves) {
      const cve = obj(c);
      const id = str(cve?.CveId) ?? str(cve?.cveId);
      if (!id) return { digest, error: 'a CvesDetails entry without CveId (unknown shape)' };
      const fixed = str(cve?.FixedVersion) ?? str(ad?.FixedVersion);
      const fixStatus = str(cve?.FixStatus) ?? str(ad?.FixStatus);
      findings.push({
        id,
        severity: severityOf(cve?.Severity ?? obj(props.metadata)?.severity),
        package: pkg,
        installedVersion: installed,
        ...(fixed ? { fixedVersion: fixed } : {}),
        fixable: fixStatus === 'FixAvailable' || (fixStatus === undefined && Boolean(fixed)),
        ...(str(cve?.PublishedDate) ? { publishedAt: str(cve?.PublishedDate)! } : {}),
        source: 'defender',
      });
    }
    return { digest, scanned: true, findings };
  }
  return { error: `unknown Resource Graph row type ${type}` };
}

export class DefenderProvider implements ScanProvider {
  readonly name = 'defender';
  private notBefore = 0;
  private readonly now: () => number;

  constructor(
    private readonly graph: Graph,
    private readonly opts: DefenderOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async scan(images: ImageRef[]): Promise<Map<string, ScanResult>> {
    const digests = [...new Set(images.map((i) => i.digest))];
    const out = new Map<string, ScanResult>();
    if (!digests.length) return out;
    const all = (r: ScanResult) => {
      for (const d of digests) out.set(d, r);
      return out;
    };
    const wait = this.notBefore - this.now();
    if (wait > 0)
      return all({ state: 'error', reason: `Resource Graph quota used up; next query in ${Math.ceil(wait / 1000)} s`, retryAfterMs: wait });
    const rows: unknown[] = [];
    let skipToken: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        let remaining: number | undefined;
        let resetsMs: number | undefined;
        const res = await this.graph.resources(
          {
            query: defenderQuery(digests),
            ...(this.opts.subscriptions.length ? { subscriptions: this.opts.subscriptions } : {}),
            options: { resultFormat: 'objectArray', top: 1000, ...(skipToken ? { skipToken } : {}) },
          },
          {
            onResponse: (raw) => {
              const rem = raw.headers.get('x-ms-user-quota-remaining');
              remaining = rem === undefined || rem === null ? undefined : Number(rem);
              resetsMs = parseResetsAfter(raw.headers.get('x-ms-user-quota-resets-after'));
            },
          },
        );
        if (remaining === 0) this.notBefore = this.now() + (resetsMs ?? 5_000);
        if (!Array.isArray(res.data))
          return all({ state: 'error', reason: 'Resource Graph answered without an array of rows (unknown shape)' });
        rows.push(...(res.data as unknown[]));
        skipToken = res.skipToken;
        if (!skipToken) break;
        if (this.notBefore > this.now())
          return all({
            state: 'error',
            reason: 'Resource Graph quota used up in the middle of a paged answer',
            retryAfterMs: this.notBefore - this.now(),
          });
      }
    } catch (err) {
      const e = err as Error & { statusCode?: number; response?: { headers: { get(n: string): string | undefined } } };
      if (e.statusCode === 429) {
        const after =
          parseRetryAfter(e.response?.headers.get('retry-after'), this.now()) ??
          parseResetsAfter(e.response?.headers.get('x-ms-user-quota-resets-after')) ??
          5_000;
        this.notBefore = this.now() + after;
        return all({
          state: 'error',
          reason: `Resource Graph throttled the query (429); retrying after ${Math.ceil(after / 1000)} s`,
          retryAfterMs: after,
        });
      }
      return all({ state: 'error', reason: `Resource Graph query failed${e.statusCode ? ` (${e.statusCode})` : ''}: ${e.message}` });
    }
    const found = new Map<string, { findings: Finding[]; errors: string[]; scanned: boolean }>();
    const asked = new Set(digests);
    for (const row of rows) {
      const r = readDefenderRow(row);
      if (!r.digest) {
        // A row we cannot attribute makes the whole answer suspect: no digest gets a result from it.
        return all({ state: 'error', reason: `unknown Defender result shape: ${r.error}` });
      }
      if (!asked.has(r.digest)) continue;
      const acc = found.get(r.digest) ?? { findings: [], errors: [], scanned: false };
      if (r.error) acc.errors.push(r.error);
      if (r.findings) acc.findings.push(...r.findings);
      acc.scanned ||= Boolean(r.scanned);
      found.set(r.digest, acc);
    }
    for (const d of digests) {
      const acc = found.get(d);
      if (!acc)
        out.set(d, {
          state: 'pending',
          reason: `Defender has no result for ${d} yet (scans of new pushes take up to a few hours; if it never comes, check that Defender for Containers has Registry access enabled and the image type is supported)`,
        });
      else if (acc.errors.length) out.set(d, { state: 'error', reason: [...new Set(acc.errors)].join('; ') });
      else out.set(d, { state: 'scanned', findings: acc.findings, source: 'defender' });
    }
    return out;
  }
}
