// What starts jobs in a server: their schedules, the events that call for a run (an approved
// exception syncs what it allows; a policy or catalog change re-publishes the static tree,
// debounced), and the advisory import at start. Everything runs through the one runner.
// stop() ends the schedules and triggers and waits for the runs they started.
import { durationMs, type Config } from '../config/schema.js';
import type { Runtime } from '../runtime.js';
import { advisoryImportJob, auditAnchorJob, auditVerifyJob, exceptionExpiryJob, gateReconcileJob } from './maintenance.js';
import { publishJob } from './publish.js';
import type { JobRunner } from './runner.js';
import { scheduleJobs } from './schedule.js';
import { ecosystems } from '../ecosystems/index.js';
import { syncJob, syncJobs } from './sync.js';
import type { AnyJob } from './types.js';

export interface ServerJobs {
  /** Ends the schedules and triggers (a run in progress goes on). */
  stop(): Promise<void>;
  /** Resolves when every run started here, or handed over, has ended. */
  drain(): Promise<void>;
}

export function startServerJobs(
  runner: JobRunner,
  runtime: Runtime,
  config: Config,
  opts: { gate: boolean; publish: boolean },
): ServerJobs {
  const scheduled: Array<{ job: AnyJob; params: unknown }> = [
    { job: syncJob, params: {} },
    { job: auditAnchorJob, params: {} },
    { job: auditVerifyJob, params: {} },
    { job: exceptionExpiryJob, params: {} },
    { job: advisoryImportJob, params: {} },
    ...(opts.gate ? [{ job: gateReconcileJob, params: {} }] : []),
  ];
  const stopSchedules = scheduleJobs(runner, config, scheduled);
  // An approval syncs what it allows, after the sync in progress, without waiting for the schedule.
  let approved: Promise<unknown> = Promise.resolve();
  const afterSync = (run: () => Promise<unknown>) => (approved = approved.then(() => runner.settled('sync')).then(run));
  const stopApprovals = runtime.exceptions.on((event, e) => {
    if (event !== 'exception.approved') return;
    const job = syncJobs.get(e.ecosystem);
    const params = ecosystems.get(e.ecosystem)?.sync?.afterApproval?.(config, e.name);
    if (!job || !params) return;
    // Named syncs run on their own; a whole-ecosystem sync joins one already under way.
    void afterSync(() => (Object.keys(params).length ? runner.run(job, params) : runner.shared(job, params)));
  });
  const publisher = opts.publish ? debouncedPublish(runner, runtime, durationMs(config.publish.debounce)) : undefined;
  const atStart = config.advisories.sources.length ? runner.shared(advisoryImportJob, {}) : Promise.resolve();
  return {
    async stop() {
      await stopSchedules();
      stopApprovals();
      await publisher?.stop();
    },
    async drain() {
      await atStart;
      await approved;
      await runner.settled();
    },
  };
}

/** Static publish mode: re-render after policy or catalog changes, debounced, one run after another. */
function debouncedPublish(runner: JobRunner, runtime: Runtime, debounceMs: number): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let publishing: Promise<unknown> = Promise.resolve();
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      publishing = publishing.then(() => runner.run(publishJob, {}));
    }, debounceMs);
    timer.unref();
  };
  const stops = [
    runtime.policies.onChange(schedule),
    ...[...runtime.ecosystems.values()].filter((e) => e.publish).map((e) => e.catalog.onChange(schedule)),
  ];
  schedule();
  return {
    async stop() {
      for (const s of stops) s();
      clearTimeout(timer);
      await publishing;
    },
  };
}
