// The vocabulary of policy: which ecosystems exist, how each one spells names and version
// ranges (its grammar), what a rule is and what a decision says. Grammars are implemented
// once per ecosystem folder; policy code never parses a version itself.

export type Ecosystem = 'pypi' | 'conda' | 'oci';
export const ECOSYSTEMS: readonly Ecosystem[] = ['pypi', 'conda', 'oci'];

/** A parsed version range, as the ecosystem's own grammar understands it. */
export interface VersionMatcher {
  /** The range as written, for messages. */
  readonly text: string;
  matches(version: string): boolean;
}

export interface PolicyGrammar {
  /** Canonical form used for every comparison (PEP 503 normalisation for PyPI). */
  normalizeName(name: string): string;
  /** Why a name is not acceptable, or undefined when it is. */
  checkName(name: string): string | undefined;
  /**
   * Splits a one-line requirement ("requests>=2,<3") into name and range, or returns an error.
   * Grammars without a one-line form return an error for anything but a bare name.
   */
  splitRequirement(line: string): { name: string; range: string } | { error: string };
  /** Parses a version range; '' or '*' means every version. Returns an error string when invalid. */
  parseRange(range: string, opts: { prereleases?: boolean }): VersionMatcher | { error: string };
  /**
   * Grammars whose rules may pin exact digests or platforms (OCI) check each pinned value;
   * a grammar without it refuses `digests:` and `platforms:` in its entries.
   */
  checkPin?(kind: 'digests' | 'platforms', value: string): string | undefined;
}

export interface SourceLocation {
  file: string;
  line: number;
}

export interface Rule {
  kind: 'allowlist' | 'exception';
  ecosystem: Ecosystem;
  /** Normalised name. */
  name: string;
  matcher: VersionMatcher;
  /** '*' for every view (allowlist rules and global exceptions), else one view. */
  view: string;
  /** Exception id, when kind is exception. */
  id?: string;
  /** End of validity (exceptions); undefined means no expiry (allowlist rules). */
  expires?: Date;
  reason?: string;
  /** Where the rule was written (file rules) or 'api' for exceptions approved through the API. */
  location?: SourceLocation;
  /** Exceptions bypass a view's cool-down: someone reviewed this exact version. */
  bypassCooldown: boolean;
  /** OCI: when set, only these manifest digests (sha256:…) of a matching tag are allowed. */
  digests?: readonly string[];
  /** OCI: when set, only these platforms (os/arch[/variant]) of a multi-platform image. */
  platforms?: readonly string[];
}

export interface DecisionQuery {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  view: string;
  /** Upstream publication time, for the view's cool-down. */
  uploadTime?: Date;
  now?: Date;
  /** OCI: the manifest digest the tag points at; a rule with pinned digests needs it to match. */
  digest?: string;
  /** OCI: a platform manifest's platform; checked against a rule's pinned platforms. */
  platform?: string;
}

export interface Decision {
  allowed: boolean;
  /** The rule that allowed it, or the closest rule that did not (for explanations). */
  rule?: Rule;
  /** Stable machine code: allowed, not-listed, version-not-allowed, cooldown, unknown-view. */
  code: 'allowed' | 'not-listed' | 'version-not-allowed' | 'cooldown' | 'unknown-view';
  /** One-line human explanation, ASCII, suitable for an HTTP reason phrase. */
  reason: string;
}

export function describeRule(rule: Rule): string {
  const where = rule.location ? `${rule.location.file}:${rule.location.line}` : rule.id ? `exception ${rule.id}` : 'api';
  const range = rule.matcher.text || 'any version';
  return rule.kind === 'exception' ? `exception ${rule.id ?? ''} (${range}, ${where})`.replace('  ', ' ') : `allowlist ${where} (${range})`;
}
