// The one decision function: is (ecosystem, name, version) allowed in a view, and by which
// rule? A view sees the base allowlist, global exceptions and its own exceptions; expired
// exceptions count for nothing. Everything not explicitly allowed is refused (fail closed).
// Malware rules (imported MAL- advisories) come first: what they match is refused in every
// view, whatever allowlist rule or exception allows it.
import { createHash } from 'node:crypto';
import { durationMs, type ViewConfig } from '../config/schema.js';
import {
  describeRule,
  ruleAdmits,
  ruleConstraint,
  type Decision,
  type DecisionQuery,
  type Ecosystem,
  type PolicyGrammar,
  type Rule,
} from './types.js';

export const DEFAULT_VIEW = 'default';

/**
 * OCI pins. A rule with pinned digests matches only a query that names one of them (no digest
 * means no match: fail closed). Pinned platforms apply to platform manifests only.
 */
function pinsMatch(r: Rule, q: DecisionQuery): boolean {
  if (r.digests && (q.digest === undefined || !r.digests.includes(q.digest))) return false;
  if (r.platforms && q.platform !== undefined && !r.platforms.includes(q.platform)) return false;
  return true;
}

/** A read model's one question about a project: its versions (with upload times, for cool-downs) in a view. */
export interface ProjectQuery {
  ecosystem: Ecosystem;
  /** Normalised name. */
  name: string;
  view: string;
  /** conda: the channel of the records (rules for other channels do not count). */
  channel?: string;
  /** Each version, with what its grammar identifies it by besides (conda: build string and subdir). */
  versions: ReadonlyArray<{ version: string; uploadTime?: Date | undefined; build?: string; subdir?: string }>;
  now?: Date;
}

/** The answer: visible (some rule in force names it), each version's decision in order, and how long it holds. */
export interface ProjectDecision {
  visible: boolean;
  decisions: Decision[];
  /** epoch ms after which the answer may change by time alone; Infinity when only a policy or catalog change can. */
  validUntil: number;
}

export class Policy {
  /** Allowlist and exception rules (what may be served). */
  readonly rules: readonly Rule[];
  /** Malware rules by ecosystem and name: they refuse, and outrank every other rule. */
  private readonly blocks = new Map<string, Rule[]>();
  private readonly byName = new Map<string, Rule[]>();
  private readonly cooldowns = new Map<string, number>();
  /** Changes whenever the rules or views change; part of every rendered document's identity. */
  readonly fingerprint: string;

  constructor(
    allRules: readonly Rule[],
    readonly views: ReadonlyMap<string, ViewConfig>,
    private readonly grammars: Partial<Record<Ecosystem, PolicyGrammar>>,
    private readonly requestHintTemplate: string,
  ) {
    this.rules = allRules.filter((r) => r.kind !== 'malware');
    for (const rule of allRules) {
      if (rule.kind !== 'malware') continue;
      const key = `${rule.ecosystem}\0${rule.name}`;
      this.blocks.set(key, [...(this.blocks.get(key) ?? []), rule]);
    }
    for (const rule of this.rules) {
      const key = `${rule.ecosystem}\0${rule.name}`;
      const list = this.byName.get(key) ?? [];
      // Allowlist rules first, so the explanation names the base rule when both apply.
      list.push(rule);
      list.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'allowlist' ? -1 : 1));
      this.byName.set(key, list);
    }
    for (const [name, v] of views) if (v.cooldown) this.cooldowns.set(name, durationMs(v.cooldown));
    const h = createHash('sha256');
    for (const r of allRules) {
      h.update(`${r.kind}|${r.ecosystem}|${r.name}|${r.matcher.text}|${r.view}|${r.id ?? ''}|${r.expires?.toISOString() ?? ''}`);
      h.update(
        r.channel === undefined && !r.build && !r.subdirs
          ? '\n'
          : `|${r.channel ?? ''}|${r.build?.text ?? ''}|${r.subdirs?.join(',') ?? ''}\n`,
      );
    }
    for (const r of allRules)
      if (r.digests || r.platforms) h.update(`pins|${r.name}|${r.digests?.join(',') ?? ''}|${r.platforms?.join(',') ?? ''}\n`);
    for (const [name, v] of [...views].sort()) h.update(`view|${name}|${v.cooldown ?? ''}\n`);
    this.fingerprint = h.digest('base64url').slice(0, 16);
  }

  requestHint(name: string, view: string): string {
    return this.requestHintTemplate.replaceAll('{name}', name).replaceAll('{view}', view);
  }

  hasView(view: string): boolean {
    return view === DEFAULT_VIEW || this.views.has(view);
  }

  viewNames(): string[] {
    return [DEFAULT_VIEW, ...[...this.views.keys()].filter((v) => v !== DEFAULT_VIEW)];
  }

  normalize(ecosystem: Ecosystem, name: string): string {
    const g = this.grammars[ecosystem];
    return g ? g.normalizeName(name) : name;
  }

  /** Rules that mention a name (any view, expired included) — for explanations and `why`. */
  rulesFor(ecosystem: Ecosystem, name: string): readonly Rule[] {
    return this.byName.get(`${ecosystem}\0${this.normalize(ecosystem, name)}`) ?? [];
  }

  /** Every malware rule (kind 'malware'), or the allowlist/exception rules of one kind. */
  rulesOfKind(kind: Rule['kind']): readonly Rule[] {
    return kind === 'malware' ? [...this.blocks.values()].flat() : this.rules.filter((r) => r.kind === kind);
  }

  /** Malware rules that mention a name (every view) — for explanations and `why`. */
  blocksFor(ecosystem: Ecosystem, name: string): readonly Rule[] {
    return this.blocks.get(`${ecosystem}\0${this.normalize(ecosystem, name)}`) ?? [];
  }

  /** Rules in force for a view at a time (and, for conda, a channel when given). */
  activeRules(ecosystem: Ecosystem, name: string, view: string, now = new Date(), channel?: string): Rule[] {
    return this.rulesFor(ecosystem, name).filter(
      (r) =>
        (r.view === '*' || r.view === view) &&
        (!r.expires || r.expires > now) &&
        (channel === undefined || r.channel === undefined || r.channel === channel),
    );
  }

  /** Every name some view may see (what the sync must look at upstream). */
  namesInScope(ecosystem: Ecosystem, now = new Date(), channel?: string): Set<string> {
    const names = new Set<string>();
    for (const r of this.rules) {
      if (r.ecosystem !== ecosystem || (r.expires && r.expires <= now)) continue;
      if (channel !== undefined && r.channel !== undefined && r.channel !== channel) continue;
      names.add(r.name);
    }
    return names;
  }

  /** Is the name visible at all in a view (some active rule mentions it)? */
  projectVisible(ecosystem: Ecosystem, name: string, view: string, now = new Date()): boolean {
    return this.activeRules(ecosystem, name, view, now).length > 0;
  }

  /** The earliest time a cool-down releases a version uploaded at uploadTime, if any. */
  cooldownUntil(view: string, uploadTime: Date | undefined): Date | undefined {
    const ms = this.cooldowns.get(view);
    if (!ms || !uploadTime) return undefined;
    return new Date(uploadTime.getTime() + ms);
  }

  /**
   * One project's answer in a view, asked once by a read model: whether some rule in force names
   * it, each version's decision, and until when that answer holds by time alone (the earliest
   * expiry of a rule in force, or end of a cool-down). A project no rule names gets no decisions.
   */
  decideProject(q: ProjectQuery): ProjectDecision {
    const now = q.now ?? new Date();
    const active = this.activeRules(q.ecosystem, q.name, q.view, now, q.channel);
    let validUntil = Infinity;
    for (const r of active) if (r.expires) validUntil = Math.min(validUntil, r.expires.getTime());
    if (active.length === 0) return { visible: false, decisions: [], validUntil };
    const decisions = q.versions.map((v) => {
      const d = this.decide({
        ecosystem: q.ecosystem,
        name: q.name,
        version: v.version,
        view: q.view,
        now,
        ...(v.uploadTime ? { uploadTime: v.uploadTime } : {}),
        ...(q.channel !== undefined ? { channel: q.channel } : {}),
        ...(v.build !== undefined ? { build: v.build } : {}),
        ...(v.subdir !== undefined ? { subdir: v.subdir } : {}),
      });
      const until = d.code === 'cooldown' ? this.cooldownUntil(q.view, v.uploadTime) : undefined;
      if (until) validUntil = Math.min(validUntil, until.getTime());
      return d;
    });
    return { visible: true, decisions, validUntil };
  }

  decide(q: DecisionQuery): Decision {
    const now = q.now ?? new Date();
    const name = this.normalize(q.ecosystem, q.name);
    if (!this.hasView(q.view)) {
      return { allowed: false, code: 'unknown-view', reason: `view ${q.view} does not exist` };
    }
    const malware = this.blocksFor(q.ecosystem, name).find((r) => r.matcher.matches(q.version));
    if (malware) {
      return {
        allowed: false,
        code: 'malware',
        rule: malware,
        reason: `${name} ${q.version} is blocked by Safelist in every view: malicious-package advisory ${malware.id}; no exception can allow it`,
      };
    }
    const active = this.activeRules(q.ecosystem, name, q.view, now, q.channel);
    if (active.length === 0) {
      const expired = this.rulesFor(q.ecosystem, name).find((r) => (r.view === '*' || r.view === q.view) && r.expires && r.expires <= now);
      const why = expired
        ? `its exception ${expired.id} expired on ${expired.expires!.toISOString().slice(0, 10)}`
        : 'it is not on the allowlist';
      return {
        allowed: false,
        code: 'not-listed',
        ...(expired ? { rule: expired } : {}),
        reason: `${name} is blocked by Safelist policy in view ${q.view}: ${why}; ${this.requestHint(name, q.view)}`,
      };
    }
    const match = active.find((r) => r.matcher.matches(q.version) && ruleAdmits(r, q) && pinsMatch(r, q));
    if (!match) {
      const pinned = active.find((r) => r.matcher.matches(q.version) && ruleAdmits(r, q));
      if (pinned) {
        const what =
          q.platform !== undefined && pinned.platforms && !pinned.platforms.includes(q.platform)
            ? `platform ${q.platform} is not among the allowed platforms ${pinned.platforms.join(', ')}`
            : `digest ${q.digest ?? '(unknown)'} is not among the pinned digests`;
        return {
          allowed: false,
          code: 'version-not-allowed',
          rule: pinned,
          reason: `${name} ${q.version} is blocked by Safelist policy in view ${q.view}: ${what} (${describeRule(pinned)}); ${this.requestHint(name, q.view)}`,
        };
      }
      const ranges = active.map((r) => (r.build || r.subdirs || r.channel ? ruleConstraint(r) : r.matcher.text || 'any')).join(' | ');
      const what = [q.version, q.build].filter((x) => x !== undefined && x !== '').join(' ') + (q.subdir ? ` (${q.subdir})` : '');
      return {
        allowed: false,
        code: 'version-not-allowed',
        rule: active[0]!,
        reason: `${name} ${what} is blocked by Safelist policy in view ${q.view}: allowed versions are ${ranges} (${describeRule(active[0]!)}); ${this.requestHint(name, q.view)}`,
      };
    }
    if (!match.bypassCooldown) {
      const until = this.cooldownUntil(q.view, q.uploadTime);
      if (until && until > now) {
        // An exception for this exact version lifts the cool-down.
        const reviewed = active.find((r) => r.bypassCooldown && r.matcher.matches(q.version) && ruleAdmits(r, q) && pinsMatch(r, q));
        if (!reviewed) {
          return {
            allowed: false,
            code: 'cooldown',
            rule: match,
            reason: `${name} ${q.version} is held back by the cool-down of view ${q.view} until ${until.toISOString()}; ${this.requestHint(name, q.view)}`,
          };
        }
        return { allowed: true, code: 'allowed', rule: reviewed, reason: `allowed by ${describeRule(reviewed)}` };
      }
    }
    return { allowed: true, code: 'allowed', rule: match, reason: `allowed by ${describeRule(match)}` };
  }
}
