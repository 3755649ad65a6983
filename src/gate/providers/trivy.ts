// Reads a Trivy JSON report (`trivy image --format json`, SchemaVersion 2) into findings.
// Only the fields the gate needs are read; anything else in the report is ignored. A report
// that names image digests (Metadata.RepoDigests) must name the digest it is posted for.
// Trivy dates the advisory (PublishedDate, LastModifiedDate: NVD/GHSA dates of the CVE), never
// the fix, so fixDeadline counts Trivy findings from when the gate first saw the fix.
import { z } from 'zod';
import { SEVERITIES, type Finding, type Severity } from '../types.js';

const vulnerability = z.looseObject({
  VulnerabilityID: z.string().min(1),
  PkgName: z.string().default(''),
  InstalledVersion: z.string().default(''),
  FixedVersion: z.string().optional(),
  /** fixed, affected, will_not_fix, fix_deferred, end_of_life, not_affected, under_investigation, unknown */
  Status: z.string().optional(),
  Severity: z.string(),
  PublishedDate: z.string().optional(),
});

export const trivyReportSchema = z.looseObject({
  SchemaVersion: z.literal(2, { error: 'a Trivy JSON report with SchemaVersion 2 (trivy image --format json)' }),
  ArtifactName: z.string().optional(),
  Metadata: z.looseObject({ RepoDigests: z.array(z.string()).optional() }).optional(),
  Results: z.array(z.looseObject({ Target: z.string().default(''), Vulnerabilities: z.array(vulnerability).nullish() })).nullish(),
});

export type TrivyReport = z.infer<typeof trivyReportSchema>;

function severityOf(s: string): Severity {
  const v = s.toLowerCase();
  return (SEVERITIES as readonly string[]).includes(v) ? (v as Severity) : 'unknown';
}

/** The findings of a validated report; a problem string when it is for another digest. */
export function trivyFindings(report: TrivyReport, digest: string): { findings: Finding[] } | { problem: string } {
  const named = report.Metadata?.RepoDigests ?? [];
  if (named.length && !named.some((d) => d.endsWith(`@${digest}`))) {
    return { problem: `the report is for ${named.join(', ')}, not for ${digest}` };
  }
  const findings: Finding[] = [];
  for (const r of report.Results ?? []) {
    for (const v of r.Vulnerabilities ?? []) {
      if (v.Status === 'not_affected') continue;
      findings.push({
        id: v.VulnerabilityID,
        severity: severityOf(v.Severity),
        package: v.PkgName,
        installedVersion: v.InstalledVersion,
        ...(v.FixedVersion ? { fixedVersion: v.FixedVersion } : {}),
        fixable: Boolean(v.FixedVersion) || v.Status === 'fixed',
        ...(v.PublishedDate ? { publishedAt: v.PublishedDate } : {}),
        source: 'trivy',
      });
    }
  }
  return { findings };
}
