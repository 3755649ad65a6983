// The one job runner: takes the job's lock (db.tryWithLock: an advisory lock across replicas,
// in-process on PGlite), passes its progress events on, records the generic job metrics and
// the job's own, and appends the job's audit record — the same for the schedule, the API, a
// CLI command and events (an approval). A job's failure is a value (outcome 'failed'), logged
// and counted, never swallowed; a run that finds the lock held is 'busy'. Each run that gets
// its lock is recorded in job_runs (runs.ts) with its progress and outcome, for the console.
// A run whose lock is lost (its database connection dropped: another replica may take it) is
// told through ctx.signal, stops, and ends 'failed' with code LOCK_LOST, whatever it returned:
// it never counts as done, since it may have overlapped another run.
import { LOCK_LOST, SafelistError } from '../errors.js';
import { UpstreamError } from '../upstream/types.js';
import { JobRuns, type ActiveRun, type JobRunsOptions } from './runs.js';
import type { Job, JobDeps, JobEvent, JobMetrics, JobOutcome } from './types.js';

export interface RunOptions {
  actor?: string;
  /** Receives every event of this run, and of the jobs it runs, tagged with the job's name. */
  onEvent?: (job: string, event: JobEvent) => void;
}

export class JobRunner {
  private readonly inFlight = new Map<string, Promise<JobOutcome>>();
  /** Every run in progress, however started (close() waits for them before the database goes). */
  private readonly active = new Map<Promise<JobOutcome>, string>();
  readonly runs: JobRuns;

  constructor(
    readonly deps: JobDeps,
    private readonly metrics?: JobMetrics,
    runs?: JobRunsOptions,
  ) {
    this.runs = new JobRuns(deps.runtime.db, deps.log, runs);
  }

  /** Runs the job now; resolves with its outcome (never rejects). */
  run<P, R>(job: Job<P, R>, params: P, opts: RunOptions = {}): Promise<JobOutcome<R>> {
    const p = this.runNow(job, params, opts);
    this.active.set(p, job.name);
    void p.finally(() => this.active.delete(p));
    return p;
  }

  private async runNow<P, R>(job: Job<P, R>, params: P, opts: RunOptions): Promise<JobOutcome<R>> {
    const actor = opts.actor ?? 'system';
    const { log, runtime } = this.deps;
    const started = performance.now();
    const emit = (name: string, e: JobEvent) => {
      if (e.type === 'failed' || e.type === 'warning') log.warn({ job: name, ...e }, `${name}: ${e.type}`);
      opts.onEvent?.(name, e);
    };
    let record: ActiveRun | undefined;
    let lost: AbortSignal | undefined;
    let outcome: JobOutcome<R>;
    try {
      const result = await runtime.db.tryWithLock(job.lock, async (signal) => {
        lost = signal;
        record = await this.runs.start(job.name, actor, params);
        return job.run({
          params,
          deps: this.deps,
          actor,
          signal,
          emit: (e) => {
            record!.note(e);
            emit(job.name, e);
          },
          run: async (child, childParams) => {
            signal.throwIfAborted(); // no part starts once the lock is gone
            // The child's runner logs its own events; here they are only passed on.
            const o = await this.run(child, childParams, { actor, ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
            opts.onEvent?.(child.name, { type: 'finished', outcome: o });
            return o;
          },
        });
      });
      outcome = result === undefined ? { status: 'busy', lock: job.lock } : { status: 'done', result };
    } catch (err) {
      outcome = this.failure(job.name, lost?.aborted ? lost.reason : err);
    }
    // A lost lock decides, whatever the job made of it (stopped with the signal's reason, another error, or finished).
    if (lost?.aborted && outcome.status === 'done') outcome = this.failure(job.name, lost.reason);
    const seconds = (performance.now() - started) / 1000;
    this.metrics?.recordJob(job.name, outcome.status === 'done' ? 'ok' : outcome.status === 'busy' ? 'busy' : 'error', seconds);
    if (this.metrics && outcome.status !== 'busy')
      job.record?.(this.metrics, outcome.status === 'done' ? outcome.result : undefined, outcome.status === 'failed');
    if (outcome.status === 'done') outcome = await this.audit(job, params, outcome, actor);
    await record?.finish(outcome);
    if (outcome.status === 'done') log.info({ job: job.name, actor, seconds: Math.round(seconds * 10) / 10 }, `${job.name} finished`);
    if (outcome.status === 'busy') log.info({ job: job.name, lock: job.lock }, `${job.name}: another run holds its lock`);
    return outcome;
  }

  private failure(name: string, err: unknown): JobOutcome<never> {
    const coded = err instanceof SafelistError || err instanceof UpstreamError;
    this.deps.log.error({ err, job: name }, `${name} failed`);
    const message = coded && err.code === LOCK_LOST ? `${name} ${err.message}` : (err as Error).message;
    return { status: 'failed', error: message, ...(coded ? { code: err.code } : {}) };
  }

  /**
   * Runs the job unless a run of it started here is still going, in which case that run's
   * outcome is shared (the schedule and events: one run at a time, nobody queues up twice).
   */
  shared<P, R>(job: Job<P, R>, params: P): Promise<JobOutcome<R>> {
    let p = this.inFlight.get(job.name) as Promise<JobOutcome<R>> | undefined;
    if (!p) {
      p = this.run(job, params).finally(() => this.inFlight.delete(job.name));
      this.inFlight.set(job.name, p);
    }
    return p;
  }

  /** Resolves when the shared() run of this job (if any) has ended; without a name, when every run has. */
  async settled(name?: string): Promise<void> {
    if (name) {
      await this.inFlight.get(name);
      return;
    }
    while (this.active.size) await Promise.all([...this.active.keys()]);
  }

  /** The names of the runs in progress (for the shutdown message). */
  runningJobs(): string[] {
    return [...new Set(this.active.values())].sort();
  }

  private async audit<P, R>(job: Job<P, R>, params: P, outcome: { status: 'done'; result: R }, actor: string): Promise<JobOutcome<R>> {
    const entries = [job.audit?.(outcome.result, params) ?? []].flat();
    if (!entries.length) return outcome;
    try {
      for (const entry of entries) await this.deps.runtime.audit.append({ actor, ...entry });
      return outcome;
    } catch (err) {
      // The work is done but unrecorded: say so (a run the audit trail cannot show is a failure).
      this.deps.log.error({ err, job: job.name }, `${job.name}: audit record failed`);
      return { status: 'failed', error: `${job.name} finished, but its audit record could not be written: ${(err as Error).message}` };
    }
  }
}
