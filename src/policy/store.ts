// Holds the policy in force and replaces it as a whole on reload. A reload with problems
// keeps serving the last good policy (fail closed on bad input, never on availability).
import type { Config } from '../config/schema.js';
import type { Db } from '../state/db.js';
import { POLICY_CHANNEL } from '../catalog/changes.js';
import type { CatalogReloads } from '../catalog/reload.js';
import { grammars } from '../ecosystems/grammars.js';
import { DEFAULT_VIEW, Policy } from './decide.js';
import { loadPolicyFiles, type PolicyProblem } from './load.js';
import type { Rule } from './types.js';

export class PolicyError extends Error {
  readonly code = 'POLICY_INVALID';
  constructor(readonly problems: PolicyProblem[]) {
    super(`policy has ${problems.length} problem(s):\n${problems.map((p) => `  ${p.file}:${p.line}: ${p.message}`).join('\n')}`);
  }
}

/** Additional rules from outside the policy files (exceptions approved through the API). */
export type RuleSource = () => Promise<Rule[]>;

export class PolicyStore {
  private current: Policy;
  private readonly listeners = new Set<(p: Policy) => void>();
  private readonly extraSources: RuleSource[] = [];

  private constructor(private readonly config: Config, initial: Policy) {
    this.current = initial;
  }

  static empty(config: Config): PolicyStore {
    return new PolicyStore(config, new Policy([], viewMap(config), grammars, config.policy.requestHint));
  }

  get policy(): Policy {
    return this.current;
  }

  addRuleSource(src: RuleSource): void {
    this.extraSources.push(src);
  }

  onChange(fn: (p: Policy) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Reads files (and extra sources); throws PolicyError and keeps the old policy on problems. */
  async reload(): Promise<Policy> {
    const views = viewMap(this.config);
    const loaded = await loadPolicyFiles(this.config.policy, { grammars, views: new Set(views.keys()) });
    if (loaded.problems.length) throw new PolicyError(loaded.problems);
    const rules = [...loaded.rules];
    for (const src of this.extraSources) rules.push(...(await src()));
    const next = new Policy(rules, views, grammars, this.config.policy.requestHint);
    if (next.fingerprint !== this.current.fingerprint) {
      this.current = next;
      for (const fn of this.listeners) fn(next);
    }
    return this.current;
  }

  /**
   * Reload on notifications from other replicas (an approval, an admin reload). A failed reload
   * is logged, counted and retried by `reloads`; one refused for problems in the files is not
   * retried (the files must change first).
   */
  async follow(db: Db, reloads: CatalogReloads): Promise<() => Promise<void>> {
    return db.listen(POLICY_CHANNEL, () => this.reloadVia(reloads));
  }

  /** A reload through `reloads` (after a notification or a reconnect). */
  reloadVia(reloads: CatalogReloads): void {
    reloads.reload('policy', '*', () => this.reload(), { retryIf: (err) => !(err instanceof PolicyError) });
  }
}

function viewMap(config: Config): Map<string, Config['views'][string]> {
  const m = new Map(Object.entries(config.views));
  if (!m.has(DEFAULT_VIEW)) m.set(DEFAULT_VIEW, {});
  return m;
}
