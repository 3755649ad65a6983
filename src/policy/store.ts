// Holds the policy in force and replaces it as a whole on reload. Policy files with problems
// leave the last good files' rules in force (fail closed on bad input, never on availability);
// rules from other sources (exceptions decided through the API) are refreshed all the same.
// Reloads run one at a time, so an older read never overwrites a newer one, and a policy is
// applied only from a set of files that did not change while it was read (a `git checkout`
// rewriting many files, an editor's rename dance): the read path never sees half a policy.
// Every reload's outcome is told to onReload listeners (audit, metrics, logs live there).
import type { Config } from '../config/schema.js';
import type { Db } from '../state/db.js';
import { POLICY_CHANNEL } from '../catalog/changes.js';
import type { CatalogReloads } from '../catalog/reload.js';
import { PolicyError } from '../errors.js';
import { DEFAULT_VIEW, Policy } from './decide.js';
import { digestPolicyFiles, filesFingerprint, loadPolicyFiles, type LoadedPolicyFiles, type PolicyFileDigest } from './load.js';
import type { Ecosystem, PolicyGrammar, Rule } from './types.js';

export { PolicyError };

/** Each ecosystem's policy grammar, keyed by ecosystem (given by the caller: the registry, ecosystems/index.ts, lists them). */
export type PolicyGrammars = Partial<Record<Ecosystem, PolicyGrammar>>;

/** Additional rules from outside the policy files (exceptions approved through the API). */
export type RuleSource = () => Promise<Rule[]>;

/**
 * What asked for a reload: the first load of the server, the file watcher, SIGHUP, a
 * notification from a replica (an exception decided, an admin reload), or a direct call
 * (the admin API, this replica's exception decision, a reconnect).
 */
export type ReloadTrigger = 'start' | 'watch' | 'signal' | 'notify' | 'request';

/** The policy files behind the policy in force. */
export interface PolicyFiles {
  digests: readonly PolicyFileDigest[];
  fingerprint: string;
}

export type ReloadOutcome =
  | {
      result: 'applied';
      trigger: ReloadTrigger;
      policy: Policy;
      files: PolicyFiles;
      filesChanged: boolean;
      policyChanged: boolean;
      /** The other sources (API exceptions) could not be read: their last known rules were used. */
      sourcesError?: unknown;
    }
  | { result: 'rejected'; trigger: ReloadTrigger; error: PolicyError; files: PolicyFiles }
  | { result: 'failed'; trigger: ReloadTrigger; error: unknown };

/** How often a load is repeated when the files changed while it read them, before giving up. */
const SETTLE_ATTEMPTS = 5;

export class PolicyStore {
  private current: Policy;
  private currentFiles: PolicyFiles = { digests: [], fingerprint: filesFingerprint([]) };
  /** The rules read from the files in force (the last good set), and the last rules read from the other sources. */
  private fileRules: readonly Rule[] = [];
  private sourceRules: readonly Rule[] = [];
  private sourcesRead = false;
  /** Why the last applied reload had to use the last known exceptions and malware rules, if it did. */
  private sourcesStale: unknown;
  private readonly listeners = new Set<(p: Policy) => void>();
  private readonly reloadListeners = new Set<(o: ReloadOutcome) => void>();
  private readonly extraSources: RuleSource[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly config: Config,
    private readonly grammars: PolicyGrammars,
    initial: Policy,
  ) {
    this.current = initial;
  }

  /**
   * An empty store for these ecosystems' grammars. The grammars come from the caller (the
   * runtime, which knows the ecosystems) because policy sits below ecosystems/ and must not
   * import it.
   */
  static empty(config: Config, grammars: PolicyGrammars): PolicyStore {
    return new PolicyStore(config, grammars, new Policy([], viewMap(config), grammars, config.policy.requestHint));
  }

  get policy(): Policy {
    return this.current;
  }

  /** The files (digests and their fingerprint) the policy in force was read from. */
  get files(): PolicyFiles {
    return this.currentFiles;
  }

  addRuleSource(src: RuleSource): void {
    this.extraSources.push(src);
  }

  onChange(fn: (p: Policy) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Every reload's outcome, whoever asked for it (applied, rejected with the problems, or failed). */
  onReload(fn: (o: ReloadOutcome) => void): () => void {
    this.reloadListeners.add(fn);
    return () => this.reloadListeners.delete(fn);
  }

  /** Reads files and other sources; on problems in the files throws PolicyError, their last good rules staying. */
  reload(trigger: ReloadTrigger = 'request'): Promise<Policy> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    // The queue only orders reloads; each caller gets its own outcome from `run`, and every
    // failure is told to the onReload listeners.
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Files with problems keep the last good file rules, but the rules from other sources are
   * still refreshed: an exception revoked through the API leaves the policy even while someone's
   * broken edit sits in allowlists/ (fail closed), and an approval is not held hostage by it.
   * Other sources that cannot be read (the database down) keep their last known rules, so a
   * file edit — a package withdrawn — still takes effect during the outage.
   */
  private async reloadNow(trigger: ReloadTrigger): Promise<Policy> {
    const views = viewMap(this.config);
    let loaded: LoadedPolicyFiles;
    try {
      loaded = await this.loadSettled(views);
    } catch (err) {
      this.tell({ result: 'failed', trigger, error: err });
      throw err;
    }
    const rejected = loaded.problems.length ? new PolicyError(loaded.problems) : undefined;
    if (rejected) this.tell({ result: 'rejected', trigger, error: rejected, files: filesOf(loaded.digests) });
    const extra = await this.readSources();
    if ('error' in extra && !this.sourcesRead) {
      this.tell({ result: 'failed', trigger, error: extra.error });
      throw extra.error;
    }
    const next = new Policy(
      [...(rejected ? this.fileRules : loaded.rules), ...extra.rules],
      views,
      this.grammars,
      this.config.policy.requestHint,
    );
    const policyChanged = next.fingerprint !== this.current.fingerprint;
    // One assignment each: a request reads either the old policy or the new one, never a mix.
    if (policyChanged) {
      this.current = next;
      for (const fn of this.listeners) fn(next);
    }
    if (rejected) throw rejected;
    const files = filesOf(loaded.digests);
    const filesChanged = files.fingerprint !== this.currentFiles.fingerprint;
    this.fileRules = loaded.rules;
    this.currentFiles = files;
    const stale = 'error' in extra ? { sourcesError: extra.error } : {};
    this.sourcesStale = 'error' in extra ? extra.error : undefined;
    this.tell({ result: 'applied', trigger, policy: this.current, files, filesChanged, policyChanged, ...stale });
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
    // A reload that could not read the other sources (exceptions, malware advisories) applied their
    // last known rules: the notification that asked for it is not answered until they are read,
    // so it fails here and is retried (a malware block must not be lost to a database blip).
    reloads.reload(
      'policy',
      '*',
      async () => {
        await this.reload('notify');
        if (this.sourcesStale !== undefined) throw this.sourcesStale;
      },
      { retryIf: (err) => !(err instanceof PolicyError) },
    );
  }

  /** Rules of the other sources, or their last known rules and the error that kept them from being read. */
  private async readSources(): Promise<{ rules: readonly Rule[] } | { rules: readonly Rule[]; error: unknown }> {
    try {
      const rules: Rule[] = [];
      for (const src of this.extraSources) rules.push(...(await src()));
      this.sourceRules = rules;
      this.sourcesRead = true;
      return { rules };
    } catch (error) {
      return { rules: this.sourceRules, error };
    }
  }

  /** Loads until the files read are still the files on disk afterwards (bounded; then a problem). */
  private async loadSettled(views: Map<string, unknown>): Promise<LoadedPolicyFiles> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await loadPolicyFiles(this.config.policy, { grammars: this.grammars, views: new Set(views.keys()) });
      const now = filesOf(await digestPolicyFiles(this.config.policy));
      if (now.fingerprint === filesOf(loaded.digests).fingerprint) return loaded;
      if (attempt >= SETTLE_ATTEMPTS) {
        const file = changedFile(loaded.digests, now.digests);
        const message = `the policy files kept changing while they were read (${attempt} attempts); the policy in force stays until they settle`;
        return { ...loaded, problems: [...loaded.problems, { file, line: 1, message }] };
      }
    }
  }

  private tell(o: ReloadOutcome): void {
    for (const fn of this.reloadListeners) fn(o);
  }
}

function filesOf(digests: readonly PolicyFileDigest[]): PolicyFiles {
  return { digests, fingerprint: filesFingerprint(digests) };
}

/** A file that differs between two readings (for the message when files never settle). */
function changedFile(a: readonly PolicyFileDigest[], b: readonly PolicyFileDigest[]): string {
  const before = new Map(a.map((d) => [d.file, d.sha256]));
  const after = new Map(b.map((d) => [d.file, d.sha256]));
  for (const [file, sha] of after) if (before.get(file) !== sha) return file;
  for (const file of before.keys()) if (!after.has(file)) return file;
  return 'policy files';
}

function viewMap(config: Config): Map<string, Config['views'][string]> {
  const m = new Map(Object.entries(config.views));
  if (!m.has(DEFAULT_VIEW)) m.set(DEFAULT_VIEW, {});
  return m;
}
