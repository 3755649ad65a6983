// The vocabulary of policy: which ecosystems exist, how each one spells names and version
// ranges (its grammar), what a rule is and what a decision says. Grammars are implemented
// once per ecosystem folder; policy code never parses a version itself.

// npm (issue 12): the fourth ecosystem; its grammar is src/ecosystems/npm/grammar.ts.
export type Ecosystem = 'pypi' | 'conda' | 'oci' | 'npm';
export const ECOSYSTEMS: readonly Ecosystem[] = ['pypi', 'conda', 'oci', 'npm'];

/** A parsed version range, as the ecosystem's own grammar understands it. */
export interface VersionMatcher {
  /** The range as written, for messages. */
  readonly text: string;
  matches(version: string): boolean;
}

/** A build-string pattern (conda), as the ecosystem's own grammar understands it. */
export interface BuildMatcher {
  readonly text: string;
  matches(build: string): boolean;
}

/** A one-line requirement split into its parts; build and channel exist only in grammars that have them (conda). */
export type SplitRequirement = { name: string; range: string; build?: string; channel?: string };

export interface PolicyGrammar {
  /** Canonical form used for every comparison (PEP 503 normalisation for PyPI). */
  normalizeName(name: string): string;
  /** Why a name is not acceptable, or undefined when it is. */
  checkName(name: string): string | undefined;
  /**
   * Splits a one-line requirement ("requests>=2,<3") into name and range, or returns an error.
   * Grammars without a one-line form return an error for anything but a bare name.
   */
  splitRequirement(line: string): SplitRequirement | { error: string };
  /** Parses a version range; '' or '*' means every version. Returns an error string when invalid. */
  parseRange(range: string, opts: { prereleases?: boolean }): VersionMatcher | { error: string };
  /**
   * Grammars whose rules may pin exact digests or platforms (OCI) check each pinned value;
   * a grammar without it refuses `digests:` and `platforms:` in its entries.
   */
  checkPin?(kind: 'digests' | 'platforms', value: string): string | undefined;
  /** Parses a build-string pattern; absent in grammars without build strings. */
  parseBuild?(pattern: string): BuildMatcher | { error: string };
  /** Checks a platform subdir name; absent in grammars without subdirs. */
  checkSubdir?(subdir: string): string | undefined;
}

export interface SourceLocation {
  file: string;
  line: number;
}

export interface Rule {
  /** malware: an imported MAL- advisory; it refuses what it matches whatever else allows it. */
  kind: 'allowlist' | 'exception' | 'malware';
  ecosystem: Ecosystem;
  /** Normalised name. */
  name: string;
  matcher: VersionMatcher;
  /** '*' for every view (allowlist rules and global exceptions), else one view. */
  view: string;
  /** Exception id (kind exception) or advisory id (kind malware). */
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
  /** conda: the upstream channel the rule is about; undefined means every channel. */
  channel?: string;
  /** conda: build-string pattern; undefined means every build. */
  build?: BuildMatcher;
  /** conda: platform subdirs the rule admits; undefined means every subdir. */
  subdirs?: readonly string[];
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
  /** conda: channel, build string and subdir of the record; rules that constrain them are checked only when given. */
  channel?: string;
  build?: string;
  subdir?: string;
}

export interface Decision {
  allowed: boolean;
  /** The rule that allowed it, or the closest rule that did not (for explanations). */
  rule?: Rule;
  /** Stable machine code: allowed, not-listed, version-not-allowed, cooldown, unknown-view, malware. */
  code: 'allowed' | 'not-listed' | 'version-not-allowed' | 'cooldown' | 'unknown-view' | 'malware';
  /** One-line human explanation, ASCII, suitable for an HTTP reason phrase. */
  reason: string;
}

/** The version range plus any build, subdir and channel constraints, for messages. */
export function ruleConstraint(rule: Rule): string {
  const parts = [rule.matcher.text || 'any version'];
  if (rule.build) parts.push(`build ${rule.build.text}`);
  if (rule.subdirs) parts.push(`subdirs ${rule.subdirs.join(',')}`);
  if (rule.channel) parts.push(`channel ${rule.channel}`);
  return parts.join(' ');
}

/** Does a rule's build, subdir and channel constraints admit the query (parts not given are not checked)? */
export function ruleAdmits(rule: Rule, q: Pick<DecisionQuery, 'channel' | 'build' | 'subdir'>): boolean {
  if (rule.channel !== undefined && q.channel !== undefined && rule.channel !== q.channel) return false;
  if (rule.build && q.build !== undefined && !rule.build.matches(q.build)) return false;
  if (rule.subdirs && q.subdir !== undefined && !rule.subdirs.includes(q.subdir)) return false;
  return true;
}

export function describeRule(rule: Rule): string {
  const where = rule.location ? `${rule.location.file}:${rule.location.line}` : rule.id ? `exception ${rule.id}` : 'api';
  const range = ruleConstraint(rule);
  if (rule.kind === 'malware') return `malicious-package advisory ${rule.id ?? ''} (${range})`;
  return rule.kind === 'exception' ? `exception ${rule.id ?? ''} (${range}, ${where})`.replace('  ', ' ') : `allowlist ${where} (${range})`;
}
