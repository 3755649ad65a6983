// The record of job runs (table job_runs, migration 0435): the runner opens one when a run has
// its lock, folds the run's events into a small progress summary written at most every few
// seconds (with a heartbeat while the run is quiet), and closes it with a summary of the result
// or the error. The console's sync page reads it back. Recording is bookkeeping: a failed write
// is logged and never fails or delays the job itself; it must never store a job's whole result
// or every event (a sync emits one per file).
import type { Db } from '../state/db.js';
import type { JobEvent, JobLog, JobOutcome } from './types.js';

export type RunStatus = 'running' | 'done' | 'failed' | 'abandoned';

export interface RunProgress {
  /** How many events of each type the run emitted (fetched, failed, warning, project …). */
  events: Record<string, number>;
  /** The last "[index/total] name" a run reported. */
  index?: number;
  total?: number;
  current?: string;
  lastFailure?: { what: string; error: string };
  lastWarning?: string;
}

export interface RunSummary {
  /** The result's numeric fields (downloaded, bytes, missing …). */
  counts: Record<string, number>;
  /** The result's `failed` entries, the first 20 of failedCount. */
  failures: Array<{ what: string; error: string }>;
  failedCount: number;
  /** Nested job outcomes (a composite job such as sync): each part's status. */
  parts: Record<string, string>;
}

export interface JobRunRecord {
  id: number;
  job: string;
  actor: string;
  params: Record<string, unknown>;
  status: RunStatus;
  startedAt: string;
  heartbeatAt: string;
  finishedAt: string | null;
  progress: RunProgress;
  summary: RunSummary | null;
  error: string | null;
}

interface Row {
  id: string | number;
  job: string;
  actor: string;
  params: Record<string, unknown> | string;
  status: 'running' | 'done' | 'failed';
  started_at: Date | string;
  heartbeat_at: Date | string;
  finished_at: Date | string | null;
  progress: RunProgress | string;
  summary: RunSummary | string | null;
  error: string | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
const iso = (v: Date | string) => new Date(v).toISOString();

export interface JobRunsOptions {
  /** How often a quiet run's row is touched, and the most often progress is written (ms). */
  heartbeatMs?: number;
  /** A running row whose heartbeat is older than this is reported as abandoned (its process died). */
  staleMs?: number;
  /** Rows kept per job. */
  keep?: number;
}

/** One run being recorded: note() its events, finish() it once. */
export interface ActiveRun {
  note(event: JobEvent): void;
  finish(outcome: JobOutcome): Promise<void>;
}

const NO_RUN: ActiveRun = { note: () => undefined, finish: async () => undefined };

export class JobRuns {
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly keep: number;

  constructor(
    private readonly db: Db,
    private readonly log: JobLog,
    opts: JobRunsOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 5000;
    this.staleMs = opts.staleMs ?? 10 * 60_000;
    this.keep = opts.keep ?? 200;
  }

  /** Opens the record of a run that holds its lock; a failed write is logged and the run goes unrecorded. */
  async start(job: string, actor: string, params: unknown): Promise<ActiveRun> {
    let id: number;
    try {
      const [row] = await this.db.query<{ id: string | number }>(
        "INSERT INTO job_runs (job, actor, params, status) VALUES ($1, $2, $3::jsonb, 'running') RETURNING id",
        [job, actor, JSON.stringify(params ?? {})],
      );
      id = Number(row!.id);
    } catch (err) {
      this.log.warn({ err, job }, `${job}: its run could not be recorded (job_runs); it runs unrecorded`);
      return NO_RUN;
    }
    return new RecordedRun(this.db, this.log, job, id, this.heartbeatMs, this.keep);
  }

  /** The newest `perJob` runs of each job named, newest first. */
  async latest(jobs: readonly string[], perJob = 5): Promise<JobRunRecord[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM (SELECT r.*, row_number() OVER (PARTITION BY job ORDER BY id DESC) AS n FROM job_runs r WHERE job = ANY($1::text[])) x
       WHERE n <= $2 ORDER BY id DESC`,
      [jobs, perJob],
    );
    const staleBefore = Date.now() - this.staleMs;
    return rows.map((r) => ({
      id: Number(r.id),
      job: r.job,
      actor: r.actor,
      params: json(r.params),
      status: r.status === 'running' && new Date(r.heartbeat_at).getTime() < staleBefore ? 'abandoned' : r.status,
      startedAt: iso(r.started_at),
      heartbeatAt: iso(r.heartbeat_at),
      finishedAt: r.finished_at ? iso(r.finished_at) : null,
      progress: withEvents(json(r.progress)),
      summary: r.summary === null ? null : json(r.summary),
      error: r.error,
    }));
  }
}

class RecordedRun implements ActiveRun {
  private readonly progress: RunProgress = { events: {} };
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private warned = false;

  constructor(
    private readonly db: Db,
    private readonly log: JobLog,
    private readonly job: string,
    private readonly id: number,
    heartbeatMs: number,
    private readonly keep: number,
  ) {
    // Progress and the heartbeat go out together on this beat, never once per event.
    this.timer = setInterval(() => this.flush(), heartbeatMs);
    this.timer.unref();
  }

  note(e: JobEvent): void {
    foldEvent(this.progress, e);
    this.dirty = true;
  }

  private flush(): void {
    const body = this.dirty ? JSON.stringify(this.progress) : null;
    this.dirty = false;
    this.writing = this.writing.then(() =>
      this.db
        .query('UPDATE job_runs SET heartbeat_at = now(), progress = COALESCE($2::jsonb, progress) WHERE id = $1', [this.id, body])
        .then(
          () => undefined,
          (err: unknown) => this.warnOnce(err),
        ),
    );
  }

  async finish(outcome: JobOutcome): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    const failed = outcome.status === 'failed';
    try {
      await this.db.query(
        `UPDATE job_runs SET status = $2, finished_at = now(), heartbeat_at = now(), progress = $3::jsonb, summary = $4::jsonb, error = $5 WHERE id = $1`,
        [
          this.id,
          failed ? 'failed' : 'done',
          JSON.stringify(this.progress),
          outcome.status === 'done' ? JSON.stringify(summarize(outcome.result)) : null,
          failed ? outcome.error : null,
        ],
      );
      await this.db.query(
        'DELETE FROM job_runs WHERE job = $1 AND id <= (SELECT id FROM job_runs WHERE job = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)',
        [this.job, this.keep],
      );
    } catch (err) {
      this.warnOnce(err);
    }
  }

  private warnOnce(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn({ err, job: this.job, run: this.id }, `${this.job}: its run record (job_runs) could not be updated`);
  }
}

/** Folds one event into the progress summary (the sync's events: project, fetched, failed, warning). */
export function foldEvent(p: RunProgress, e: JobEvent): void {
  p.events[e.type] = (p.events[e.type] ?? 0) + 1;
  if (typeof e.index === 'number' && typeof e.total === 'number') {
    p.index = e.index;
    p.total = e.total;
  }
  if (typeof e.name === 'string') p.current = e.name.slice(0, 200);
  if (e.type === 'failed')
    p.lastFailure = { what: String(e.filename ?? e.name ?? '').slice(0, 300), error: String(e.error ?? '').slice(0, 500) };
  if (e.type === 'warning' && typeof e.message === 'string') p.lastWarning = e.message.slice(0, 500);
}

/** What a result says in a few fields: its numbers, its failures (at most 20), its parts' statuses. */
export function summarize(result: unknown): RunSummary {
  const s: RunSummary = { counts: {}, failures: [], failedCount: 0, parts: {} };
  if (!result || typeof result !== 'object') return s;
  for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v)) s.counts[k] = v;
    else if (k === 'failed' && Array.isArray(v)) {
      s.failedCount = v.length;
      s.failures = v.slice(0, 20).map((f: { filename?: unknown; name?: unknown; error?: unknown }) => ({
        what: String(f?.filename ?? f?.name ?? '').slice(0, 300),
        error: String(f?.error ?? '').slice(0, 500),
      }));
    } else if (v && typeof v === 'object' && typeof (v as { status?: unknown }).status === 'string')
      s.parts[k] = (v as { status: string }).status;
  }
  return s;
}

/** A run's progress as read back: a row written before its first event has no counts yet. */
function withEvents(p: Partial<RunProgress>): RunProgress {
  return { ...p, events: p.events ?? {} };
}
