// The shape every job has — sync (per ecosystem), import, a module's own (the ACR import), audit anchoring,
// exception expiry, advisory import, gate reconcile, static publish: a name, the lock that
// keeps two runs apart (in this process and across replicas), an optional schedule, what it
// accepts, and run(ctx). The runner (runner.ts) does the rest the same way for every job,
// whoever starts it. A job never takes its own lock, writes its own audit record or prints:
// it emits events and returns a JSON-serialisable result.
import type { z } from 'zod';
import type { FastifyBaseLogger } from 'fastify';
import type { TokenCredential } from '@azure/core-auth';
import type { Role } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import type { Runtime } from '../runtime.js';
import type { GateRegistry } from '../gate/registry.js';
import type { GateStore } from '../gate/store.js';
import type { BlobStore } from '../storage/types.js';

/** A progress event: JSON-serialisable, so the server can stream it to a CLI unchanged. */
export interface JobEvent {
  type: string;
  [field: string]: unknown;
}

/** How a run ended. `busy`: another run (here or on another replica) holds the lock. */
export type JobOutcome<R = unknown> =
  { status: 'done'; result: R } | { status: 'busy'; lock: string } | { status: 'failed'; error: string; code?: string };

/** One line of a job's stream: an event of some job (a composite job streams its parts'), or the end. */
export type JobStreamLine = { job: string; event: JobEvent } | { job: string; outcome: JobOutcome };

export interface AuditEntry {
  action: string;
  subject: string;
  detail: Record<string, unknown>;
}

export type JobLog = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/** What jobs run against: the runtime, plus what only a server has (the gate, Azure identity). */
export interface JobDeps {
  runtime: Runtime;
  config: Config;
  log: JobLog;
  azure?: { credential?: TokenCredential; clientOptions?: { tlsOptions?: { ca?: string } } };
  gate?: { registries: GateRegistry[]; store: GateStore; kick(): void };
  /** Outgoing webhooks (the server's notifier), for jobs whose outcome someone must hear of (malware blocked). */
  notifier?: { post(hook: { url: string; secret?: string | undefined }, event: string, id: string, body: unknown): void };
  /** The static publish target (publish.target), opened once by whoever runs publish on a schedule. */
  publishTarget?: BlobStore;
}

export interface JobContext<P> {
  params: P;
  deps: JobDeps;
  /** Who started the run: "system" (schedule, events), an API identity's oid, or "cli:<user>". */
  actor: string;
  /**
   * Aborts (reason: a LOCK_LOST SafelistError) when the run's lock is lost: another replica may
   * run the job now, so a long job stops between files and ends transfers in flight.
   */
  signal: AbortSignal;
  emit(event: JobEvent): void;
  /** Runs another job through the same runner (its lock, metrics, audit); its events are streamed too. */
  run<Q, S>(job: Job<Q, S>, params: Q): Promise<JobOutcome<S>>;
}

export interface Job<P = unknown, R = unknown> {
  name: string;
  /** Lock name for db.tryWithLock: a PostgreSQL advisory lock across replicas, in-process on PGlite. */
  lock: string;
  /** Its node-cron expression in this configuration; undefined or '' = on demand only. */
  schedule?(config: Config): string | undefined;
  /** Who may start it through the API (POST /api/v1/jobs/{name}); default: admin only. */
  roles?: readonly Role[];
  /** What callers may pass (the API validates hand-offs with it). */
  params: z.ZodType<P>;
  /** Why it cannot run with this configuration (the CLI refuses with it, exit 2); undefined or absent: it can. */
  unavailable?(config: Config): string | undefined;
  run(ctx: JobContext<P>): Promise<R>;
  /** The run's audit record(s); undefined = nothing to record (a dry run, a no-op). */
  audit?(result: R, params: P): AuditEntry | AuditEntry[] | undefined;
  /** Job-specific metrics beside the runner's generic ones (the sync's file and byte counters). */
  record?(metrics: JobMetrics, result: R | undefined, error: boolean): void;
}

export interface JobMetrics {
  recordJob(job: string, result: 'ok' | 'busy' | 'error', seconds: number): void;
  recordSync(ecosystem: string, r: { downloaded: number; bytes: number; failed: unknown[] } | undefined, error?: boolean): void;
}

/** Erases a job's types for registries and the API (params are validated by the job's schema). */
export type AnyJob = Job<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
