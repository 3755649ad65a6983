// The container gate's shared vocabulary: what a scan provider says about an image digest,
// a finding, and the verdict the policy draws from them. Providers only report; the policy
// (policy.ts) decides; the worker (worker.ts) acts. "Not scanned yet" and "error" are states
// of their own and never read as clean.

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Rank for threshold comparisons: higher is worse; unknown ranks as low (never ignored). */
export const SEVERITY_RANK: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, unknown: 1 };

export interface Finding {
  /** CVE or advisory id. */
  id: string;
  severity: Severity;
  package: string;
  installedVersion: string;
  fixedVersion?: string;
  /** A fix exists upstream (a fixed version, or the scanner says so). */
  fixable: boolean;
  /** When the vulnerability was published (ISO 8601), if the scanner knows. */
  publishedAt?: string;
  /** When the fix was released (ISO 8601), if the scanner says (Defender: fixReference.releaseDate). */
  fixReleasedAt?: string;
  /**
   * When the gate first saw this finding (id, package, fixed version) as fixable in any image
   * (ISO 8601); set by the worker from the database, the fixDeadline clock when the scanner
   * does not date the fix.
   */
  fixSeenAt?: string;
  /** Which provider reported it. */
  source: string;
  /**
   * Not a vulnerability but a policy breach found in the image (curated contents): it fails
   * with this rule whatever the thresholds say, unless an exception names its id.
   */
  breach?: string;
}

export interface ImageRef {
  registry: string;
  repository: string;
  digest: string;
}

export type ScanResult =
  | { state: 'scanned'; findings: Finding[]; source: string }
  /** Not scanned yet: ask again later, until the deadline. */
  | { state: 'pending'; reason: string }
  /** The provider failed; retried like pending, never a pass. retryAfterMs when the provider said. */
  | { state: 'error'; reason: string; retryAfterMs?: number };

/**
 * One source of scan results (posted reports, Defender, curated contents). Batches: a provider
 * answers for every digest it is asked about. Fail closed: no result yet is 'pending', a result
 * it cannot read or a dependency it cannot reach is 'error' (answered, not thrown); only a result
 * it read whole is 'scanned'. The contract every provider meets is test/gate/scan-provider.test.ts.
 */
export interface ScanProvider {
  readonly name: string;
  scan(images: ImageRef[]): Promise<Map<string, ScanResult>>;
}

export interface FailedFinding {
  finding: Finding;
  /** The rule it failed, in words a developer can act on (e.g. "severity high ≥ threshold high"). */
  rule: string;
}

export interface Verdict {
  outcome: 'pass' | 'fail' | 'no-verdict';
  registry: string;
  repository: string;
  digest: string;
  /** The policy says report, not enforce: a failing verdict is recorded but nothing is purged. */
  reportOnly: boolean;
  failures: FailedFinding[];
  /** Findings an exception covers, with its owner and expiry. */
  exempted: Array<{ finding: Finding; exception: { cve: string; owner: string; expires: string } }>;
  /** Findings reported but not failing (below threshold, unfixed with fixable-only, in grace; with the date a fixDeadline fails them). */
  reported: Array<{ finding: Finding; note: string }>;
  /** Why, in sentences (also for no-verdict). */
  reasons: string[];
  policy?: string;
  decidedAt: string;
}
