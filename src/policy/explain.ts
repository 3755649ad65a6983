// `safelist why NAME`: what the policy says about a name in a view, and what the index will
// actually answer (allowed but nothing mirrored is a 404, not "allowed"), in words a data
// scientist can act on. Shared by the CLI and the API. Never says "allowed" for a name the
// index cannot serve (a page refused as a whole, as a PEP 792 quarantine, is "blocked", with its reason).
import { errors } from '../errors.js';
import type { Policy } from './decide.js';
import { describeRule, type Decision, type Ecosystem } from './types.js';

/**
 * What `why` reads from an ecosystem's read model: the versions known for a name, each with its
 * label, whether it is stored and its decision in the view. Declared here as the narrowest shape
 * it needs (policy sits below ecosystems/ and must not import it); each opened EcosystemModule
 * fits it structurally.
 */
export interface ExplainSource {
  explain(
    name: string,
    view: string,
  ): {
    consulted: boolean;
    versions: ReadonlyArray<{ label: string; stored: boolean; decision: Decision }>;
    /** Why the whole name is refused although a rule allows it (a PEP 792 quarantine page). */
    pageRefusal?: string;
  };
}

export interface ExplainDeps {
  policy: Policy;
  /** The ecosystem's read model; absent: nothing is known about storage. */
  source?: ExplainSource;
  /** What one mirrored item is called ("file", "tag"). */
  item?: string;
}

export interface Explanation {
  ecosystem: Ecosystem;
  name: string;
  view: string;
  /** not-mirrored: the policy allows it but no allowed file is in storage, so the index answers 404. */
  status: 'allowed' | 'partly-allowed' | 'not-mirrored' | 'blocked';
  message: string;
  rules: string[];
  /** Versions mirrored and offered in this view (PyPI; conda as "version build (channel/subdir)"). */
  available: string[];
  /** Versions known but refused in this view, with the reason. */
  refused: Array<{ version: string; reason: string }>;
  howToRequest: string;
  /** Files of this name the last sync refused (from its audit record), when nothing is mirrored. */
  syncFailures?: SyncFailure[];
}

export interface SyncFailure {
  filename: string;
  /** Why, when the audit record kept it (older records name the file only). */
  error?: string;
}

export function explainName(deps: ExplainDeps, ecosystem: Ecosystem, rawName: string, view: string): Explanation {
  const e = explainPolicy(deps, ecosystem, rawName, view);
  const blocks = deps.policy.blocksFor(ecosystem, e.name);
  if (!blocks.length) return e;
  // Malware outranks everything else: say it first, whatever the other rules allow.
  const which = blocks.map((r) => `${r.id} (${r.matcher.text})`).join(', ');
  return {
    ...e,
    message: `malicious-package advisories block ${e.name} in every view, and no exception can allow it: ${which}. ${e.message}`,
  };
}

function explainPolicy(deps: ExplainDeps, ecosystem: Ecosystem, rawName: string, view: string): Explanation {
  const { policy } = deps;
  const name = policy.normalize(ecosystem, rawName);
  const hint = policy.decide({ ecosystem, name, version: '0', view });
  const base = {
    ecosystem,
    name,
    view,
    available: [] as string[],
    refused: [] as Array<{ version: string; reason: string }>,
    howToRequest: `safelist exceptions request ${ecosystem} ${name} --view ${view}`,
  };
  if (hint.code === 'unknown-view') throw errors.unknownView(view, policy.viewNames());
  const active = policy.activeRules(ecosystem, name, view);
  const blocks = policy.blocksFor(ecosystem, name);
  const rules = [...blocks, ...policy.rulesFor(ecosystem, name)].map(
    (r) =>
      `${describeRule(r)}${r.view !== '*' ? ` for view ${r.view}` : ''}${r.expires ? `, expires ${r.expires.toISOString().slice(0, 10)}` : ''}`,
  );
  const facts = deps.source?.explain(name, view);
  for (const v of facts?.versions ?? []) {
    if (v.decision.allowed && v.stored) base.available.push(v.label);
    else if (!v.decision.allowed) base.refused.push({ version: v.label, reason: v.decision.reason });
  }
  if (active.length === 0) return { ...base, status: 'blocked', message: hint.reason, rules };
  // Allowed by a rule, yet the page is refused as a whole (a PEP 792 quarantine).
  if (facts?.pageRefusal) return { ...base, status: 'blocked', message: facts.pageRefusal, rules };
  const ranges = active.map((r) => r.matcher.text || 'any version').join(' | ');
  // Only when this ecosystem's catalog was consulted: without it nothing is known about storage.
  if (facts?.consulted && base.available.length === 0) {
    return {
      ...base,
      status: 'not-mirrored',
      message: `${name} is allowed by policy in view ${view} for ${ranges}, but no allowed ${deps.item ?? 'file'} of it is mirrored, so the index answers 404 (not found); run \`safelist sync\` to fetch it`,
      rules,
    };
  }
  return {
    ...base,
    status: base.refused.length ? 'partly-allowed' : 'allowed',
    message: `${name} is allowed in view ${view} for ${ranges}${base.refused.length ? `; ${base.refused.length} known version(s) are refused` : ''}`,
    rules,
  };
}

/**
 * Adds what the last sync said about a not-mirrored name: the files of it that it refused, and
 * why. `failed` is the `failed` list of the latest `sync.finished` audit record of the ecosystem
 * (file names, or { filename, error }); `belongs` tells the files of this name (each ecosystem
 * names its files its own way).
 */
export function withSyncFailures(e: Explanation, failed: unknown, belongs: (filename: string) => boolean): Explanation {
  if (e.status !== 'not-mirrored' || !Array.isArray(failed)) return e;
  const mine: SyncFailure[] = [];
  for (const f of failed as unknown[]) {
    const entry = typeof f === 'string' ? { filename: f } : (f as Partial<SyncFailure> | null);
    if (typeof entry?.filename !== 'string' || !belongs(entry.filename)) continue;
    mine.push({ filename: entry.filename, ...(typeof entry.error === 'string' ? { error: entry.error } : {}) });
  }
  if (!mine.length) return e;
  const what = mine.map((f) => `${f.filename}${f.error ? ` (${f.error})` : ''}`).join('; ');
  return {
    ...e,
    syncFailures: mine,
    message: `${e.message.replace(/; run `safelist sync` to fetch it$/, '')}: the last sync refused ${what}`,
  };
}
