// `safelist why NAME`: what the policy says about a name in a view, and what the index will
// actually answer (allowed but nothing mirrored is a 404, not "allowed"), in words a data
// scientist can act on. Shared by the CLI and the API. Never says "allowed" for a name the
// index cannot serve (a PyPI page with a PEP 792 quarantine is "blocked", with its reason).
import { errors } from '../errors.js';
import type { Policy } from './decide.js';
import { describeRule, type Decision, type Ecosystem } from './types.js';

// What `why` reads from each ecosystem's index, declared here as the narrowest shapes it needs:
// policy sits below ecosystems/ and must not import it (the indexes satisfy these structurally).
// Issue 12's EcosystemModule replaces these three with one per-ecosystem `explain` hook.

/** A PyPI index: the files known for a project, and their decision in a view. */
export interface ExplainPypi {
  catalogProject(name: string): { files: readonly ExplainFile[] } | undefined;
  // Method syntax on purpose: its parameter is checked bivariantly, so an index taking its own
  // richer file type (which it hands out from catalogProject) still fits.
  decideFile(file: ExplainFile, view: string): Decision;
  /** Why the whole project page is refused in the view (PEP 792 quarantined), if it is. */
  pageRefusal(view: string, name: string): string | undefined;
}

export interface ExplainFile {
  version: string;
  stored: boolean;
}

/** An OCI catalog: an image's mirrored tags and the digest each points at. */
export interface ExplainOci {
  image(name: string): { tags: ReadonlyMap<string, string> } | undefined;
}

/** A conda index: its channels, the packages of a name in one, and their decision in a view. */
export interface ExplainConda {
  readonly channels: readonly { name: string }[];
  packagesNamed(channelName: string, name: string): readonly ExplainCondaPackage[];
  decidePackage(p: ExplainCondaPackage, view: string): Decision;
}

export interface ExplainCondaPackage extends ExplainFile {
  build: string;
  subdir: string;
}

/** An npm catalog and read model: the versions known of a name, and their decision in a view. */
export interface ExplainNpm {
  versionsOf(name: string): readonly ExplainFile[];
  decideVersion(v: ExplainFile, view: string): Decision;
}

export interface ExplainDeps {
  policy: Policy;
  pypi?: ExplainPypi;
  oci?: ExplainOci;
  conda?: ExplainConda;
  npm?: ExplainNpm;
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
  if (ecosystem === 'pypi' && deps.pypi) {
    const project = deps.pypi.catalogProject(name);
    const seen = new Set<string>();
    for (const f of project?.files ?? []) {
      if (seen.has(f.version)) continue;
      seen.add(f.version);
      const d = deps.pypi.decideFile(f, view);
      if (d.allowed && f.stored) base.available.push(f.version);
      else if (!d.allowed) base.refused.push({ version: f.version, reason: d.reason });
    }
  }
  if (ecosystem === 'oci' && deps.oci) {
    // Mirrored tags, each decided with the digest it points at (pins included).
    for (const [tag, digest] of [...(deps.oci.image(name)?.tags ?? [])].sort()) {
      const d = policy.decide({ ecosystem, name, version: tag, view, digest });
      if (d.allowed) base.available.push(tag);
      else base.refused.push({ version: tag, reason: d.reason });
    }
  }
  if (ecosystem === 'conda' && deps.conda) {
    for (const channel of deps.conda.channels) {
      for (const p of deps.conda.packagesNamed(channel.name, name)) {
        const label = `${p.version} ${p.build} (${channel.name}/${p.subdir})`;
        const d = deps.conda.decidePackage(p, view);
        if (d.allowed && p.stored) base.available.push(label);
        else if (!d.allowed) base.refused.push({ version: label, reason: d.reason });
      }
    }
  }
  if (ecosystem === 'npm' && deps.npm) {
    for (const v of deps.npm.versionsOf(name)) {
      const d = deps.npm.decideVersion(v, view);
      if (d.allowed && v.stored) base.available.push(v.version);
      else if (!d.allowed) base.refused.push({ version: v.version, reason: d.reason });
    }
  }
  if (active.length === 0) return { ...base, status: 'blocked', message: hint.reason, rules };
  // Allowed by a rule, yet the page is a PEP 792 quarantine (no version allowed, or quarantined upstream).
  const quarantine = ecosystem === 'pypi' ? deps.pypi?.pageRefusal(view, name) : undefined;
  if (quarantine) return { ...base, status: 'blocked', message: quarantine, rules };
  const ranges = active.map((r) => r.matcher.text || 'any version').join(' | ');
  // Only when this ecosystem's catalog was consulted: without it nothing is known about storage.
  const consulted = { pypi: deps.pypi, oci: deps.oci, conda: deps.conda, npm: deps.npm }[ecosystem] !== undefined;
  if (consulted && base.available.length === 0) {
    return {
      ...base,
      status: 'not-mirrored',
      message: `${name} is allowed by policy in view ${view} for ${ranges}, but no allowed ${ecosystem === 'oci' ? 'tag' : 'file'} of it is mirrored, so the index answers 404 (not found); run \`safelist sync\` to fetch it`,
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
