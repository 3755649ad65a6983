// Policy from Git without restarts: watches allowlists/ and exceptions/ (node:fs watch on the
// folders, debounced), reloads on SIGHUP, and reports every reload of this replica's policy —
// whoever asked for it — in one place: the audit trail, /metrics and the log.
//
// What is audited (once per fact, never per replica echo):
//   policy.reloaded  at start, and whenever the policy files in force change (watch, SIGHUP,
//                    admin reload, a notification): subject = the files' fingerprint, detail =
//                    each file's sha256. Exceptions decided through the API change the policy
//                    too, but their own records (exception.approved, …) are the record of that.
//   policy.rejected  when a file set has problems: the policy in force stays; once per set.
//
// Must never apply a policy itself (the store does, atomically), never stop the server because
// a file is wrong, and never let a failure pass without a log line and a count.
import { watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { durationMs, type Config } from '../config/schema.js';
import type { PolicyFiles, PolicyStore, ReloadOutcome, ReloadTrigger } from './store.js';

/** Where records go (the audit log); a structural type so the policy layer imports nothing above it. */
export interface AuditSink {
  append(entry: { actor: string; action: string; subject: string; detail: Record<string, unknown> }): Promise<unknown>;
}

/** The few logger methods used (pino's, as fastify's app.log has them). */
export interface WatchLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyWatchOptions {
  store: PolicyStore;
  config: Config['policy'];
  audit: AuditSink;
  /** The server's /metrics registry. */
  registry: Registry;
  log: WatchLog;
  /** Named in audit records (default: the host name). */
  replica?: string;
}

export interface PolicyWatch {
  /** Stops watching and listening for SIGHUP; waits for a reload it started. */
  stop(): Promise<void>;
}

/** Bursts longer than this many debounce periods still reload (a file written for a long time). */
const MAX_WAIT_DEBOUNCES = 10;
/** At most this many problems go into one audit record (the log has them all). */
const MAX_AUDITED_PROBLEMS = 100;

export async function startPolicyWatch(opts: PolicyWatchOptions): Promise<PolicyWatch> {
  const reporter = new ReloadReporter(opts);
  const stopReporting = opts.store.onReload((o) => reporter.report(o));
  const pending = new Set<Promise<unknown>>();
  const reload = (trigger: ReloadTrigger) => {
    // Outcomes, failures included, reach the reporter through onReload; this promise only orders stop().
    const p = opts.store.reload(trigger).catch(() => undefined);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const debounceMs = durationMs(opts.config.watchDebounce);
  const folders = opts.config.watch ? new FolderWatch(opts.config, debounceMs, opts.log, () => reload('watch')) : undefined;
  folders?.arm();
  const onSignal = () => {
    opts.log.info({}, 'SIGHUP: reloading the policy files');
    folders?.arm();
    reload('signal');
  };
  process.on('SIGHUP', onSignal);
  // Read again now that the folders are watched: an edit made since the runtime's first load
  // is not missed, and the start record names exactly what is in force.
  reload('start');
  await Promise.all(pending);
  await Promise.all(reporter.writing);
  return {
    async stop() {
      process.off('SIGHUP', onSignal);
      folders?.close();
      await Promise.all(pending);
      stopReporting();
      await Promise.all(reporter.writing);
    },
  };
}

/** Audit records, metrics and log lines for reload outcomes. */
class ReloadReporter {
  private readonly reloads: Counter<'result'>;
  private readonly lastApplied: Gauge;
  private readonly replica: string;
  /** The files fingerprint last recorded as in force, and the last rejected set (recorded once). */
  private recorded: string | undefined;
  private rejected: string | undefined;

  constructor(private readonly opts: PolicyWatchOptions) {
    this.replica = opts.replica ?? hostname();
    this.reloads = new Counter({
      name: 'safelist_policy_reloads_total',
      help:
        'Policy reloads of this replica by result: applied (valid, in force), rejected (problems in the files; ' +
        'the last good policy stays), failed (the files could not be read)',
      labelNames: ['result'] as const,
      registers: [opts.registry],
    });
    for (const result of ['applied', 'rejected', 'failed']) this.reloads.inc({ result }, 0);
    this.lastApplied = new Gauge({
      name: 'safelist_policy_last_reload_timestamp_seconds',
      help: 'When this replica last applied a valid policy (Unix time)',
      registers: [opts.registry],
    });
  }

  report(o: ReloadOutcome): void {
    this.reloads.inc({ result: o.result });
    if (o.result === 'applied') {
      this.lastApplied.setToCurrentTime();
      this.rejected = undefined;
      if (o.sourcesError !== undefined) {
        this.opts.log.warn(
          { err: o.sourcesError, trigger: o.trigger },
          'policy reloaded with the last known API exceptions: they could not be read',
        );
      }
      if (o.trigger !== 'start' && o.files.fingerprint === this.recorded) return;
      const previous = this.recorded;
      this.recorded = o.files.fingerprint;
      const { fingerprint, rules } = o.policy;
      this.opts.log.info(
        { trigger: o.trigger, files: o.files.fingerprint, policy: fingerprint, rules: rules.length },
        'policy files in force',
      );
      this.append('policy.reloaded', o.files.fingerprint, {
        trigger: o.trigger,
        replica: this.replica,
        files: digestMap(o.files),
        policy: o.policy.fingerprint,
        rules: o.policy.rules.length,
        ...(previous && o.trigger !== 'start' ? { previous } : {}),
      });
    } else if (o.result === 'rejected') {
      if (o.files.fingerprint === this.rejected) return;
      this.rejected = o.files.fingerprint;
      const { problems } = o.error;
      for (const p of problems) {
        this.opts.log.warn(
          { trigger: o.trigger, file: p.file, line: p.line },
          `policy rejected, the last good policy stays: ${p.file}:${p.line}: ${p.message}`,
        );
      }
      this.append('policy.rejected', problems[0]?.file ?? 'policy files', {
        trigger: o.trigger,
        replica: this.replica,
        problems: problems.slice(0, MAX_AUDITED_PROBLEMS),
        problemCount: problems.length,
        files: digestMap(o.files),
        keeping: this.opts.store.files.fingerprint,
        policy: this.opts.store.policy.fingerprint,
      });
    } else {
      this.opts.log.error({ err: o.error, trigger: o.trigger }, 'policy reload failed; the last good policy stays');
    }
  }

  /** Audit appends still being written (stop() waits for them before the database closes). */
  readonly writing = new Set<Promise<unknown>>();

  private append(action: string, subject: string, detail: Record<string, unknown>): void {
    const p = this.opts.audit
      .append({ actor: 'system', action, subject, detail })
      .catch((err: unknown) => this.opts.log.error({ err, action }, 'audit of a policy reload failed'));
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p));
  }
}

function digestMap(files: PolicyFiles): Record<string, string> {
  return Object.fromEntries(files.digests.map((d) => [d.file, d.sha256]));
}

/** Which events can change the policy: *.yaml / *.yml that are not hidden (editors' swap and lock files are). */
const POLICY_FILE = /^[^.].*\.ya?ml$/;

/**
 * Watches the two policy folders and their parents. Editors that write through a rename, a
 * `git checkout` replacing many files, a folder deleted and created again, a Kubernetes
 * ConfigMap swapping its `..data` link: each ends in events here, then one debounced reload.
 * Every reload re-arms the folder watchers first (the folder may be a new inode), so nothing
 * between two readings is missed: what changed before re-arming, the reload reads.
 */
class FolderWatch {
  private readonly dirs: string[];
  private readonly folderWatchers = new Map<string, FSWatcher>();
  private readonly parentWatchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private burstStart: number | undefined;
  private closed = false;

  constructor(
    config: Config['policy'],
    private readonly debounceMs: number,
    private readonly log: WatchLog,
    private readonly onSettled: () => void,
  ) {
    this.dirs = [...new Set([resolve(config.allowlistDir), resolve(config.exceptionsDir)])];
  }

  arm(): void {
    for (const dir of this.dirs) {
      this.watchParent(dir);
      this.watchFolder(dir);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of [...this.folderWatchers.values(), ...this.parentWatchers.values()]) w.close();
    this.folderWatchers.clear();
    this.parentWatchers.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    const now = Date.now();
    this.burstStart ??= now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.burstStart + this.debounceMs * MAX_WAIT_DEBOUNCES - now));
    this.timer = setTimeout(() => {
      this.burstStart = undefined;
      this.arm();
      this.onSettled();
    }, wait);
  }

  /** A new watcher first, then the old one closed: no moment without one. */
  private watchFolder(dir: string): void {
    const next = this.open(dir, (event, name) => {
      if (name === null || POLICY_FILE.test(name)) this.schedule();
    });
    this.folderWatchers.get(dir)?.close();
    if (next) this.folderWatchers.set(dir, next);
    else this.folderWatchers.delete(dir);
  }

  /** The parent sees the folder itself come, go or be replaced (and a ConfigMap's `..data` swap). */
  private watchParent(dir: string): void {
    const parent = dirname(dir);
    if (this.parentWatchers.has(parent)) return;
    const names = new Set(this.dirs.filter((d) => dirname(d) === parent).map((d) => basename(d)));
    const w = this.open(parent, (event, name) => {
      if (event === 'rename' && (name === null || names.has(name) || name.startsWith('..'))) this.schedule();
    });
    if (w) this.parentWatchers.set(parent, w);
  }

  private open(path: string, onEvent: (event: string, name: string | null) => void): FSWatcher | undefined {
    let w: FSWatcher;
    try {
      w = watch(path, { persistent: false }, onEvent);
    } catch (err) {
      // A folder that does not exist (yet) is fine: its parent's watcher sees it appear.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err, path }, 'cannot watch a policy folder; edits there take effect on SIGHUP or restart');
      }
      return undefined;
    }
    w.on('error', (err) => {
      // The folder went away (or the watch broke): drop this watcher, look again after the burst.
      this.log.info({ err, path }, 'policy folder watch ended; watching again');
      w.close();
      for (const m of [this.folderWatchers, this.parentWatchers]) if (m.get(path) === w) m.delete(path);
      this.schedule();
    });
    return w;
  }
}
