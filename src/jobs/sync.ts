// The sync jobs: one per registered ecosystem with a sync role (`sync:<id>`), each under its own
// lock, and `sync`, which runs the ecosystems one rule picks (syncPlan) — the rule the schedule,
// an approval and `safelist sync` share. The sync bodies are the ecosystems' own
// (ecosystems/<id>/sync.ts); this file only wraps them, and never names an ecosystem.
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { ecosystems } from '../ecosystems/index.js';
import type { EcosystemModule, SyncParams as EcosystemSyncParams, SyncReportBase, SyncSpec } from '../ecosystems/types.js';
import type { Policy } from '../policy/decide.js';
import { moduleJobs } from './module-jobs.js';
import type { AnyJob, Job, JobOutcome } from './types.js';

/** The jobs a sync may ask to follow it (SyncSpec.followUp), by name: the modules' own. */
const FOLLOW_UPS: ReadonlyMap<string, AnyJob> = moduleJobs;

/** A sync report, and the outcome of the job that followed it when one did. */
export type SyncResult = SyncReportBase & { followUp?: JobOutcome };

/** The `sync:<id>` job of one ecosystem. */
function ecosystemSyncJob(m: EcosystemModule, spec: SyncSpec): Job<EcosystemSyncParams, SyncResult> {
  return {
    name: `sync:${m.id}`,
    lock: `sync:${m.id}`,
    params: spec.params,
    async run({ params, deps: { config, runtime: rt }, emit, run, signal }) {
      const open = rt.ecosystems.get(m.id);
      if (!open?.sync) throw new Error(`the ${m.label} ecosystem has no sync in this runtime`);
      const r: SyncResult = await open.sync(params, { config, policy: rt.policies.policy, emit: (e) => emit(e), signal });
      const next = params.dryRun ? undefined : spec.followUp?.(config);
      const job = next && FOLLOW_UPS.get(next.job);
      if (job) r.followUp = await run(job, next.params);
      return r;
    },
    audit: (r, p) => (p.dryRun ? undefined : { action: 'sync.finished', subject: m.id, detail: spec.auditDetail(r, p) }),
    record: (metrics, r, error) => metrics.recordSync(m.id, r, error),
  };
}

/** Every ecosystem's sync job, by ecosystem id, in registry order. */
export const syncJobs: ReadonlyMap<string, Job<EcosystemSyncParams, SyncResult>> = new Map(
  [...ecosystems.values()].flatMap((m) => (m.sync ? [[m.id, ecosystemSyncJob(m, m.sync)] as const] : [])),
);

/** The ecosystems that sync, in registry order. */
export const SYNC_ECOSYSTEMS: readonly string[] = [...syncJobs.keys()];

/**
 * The one rule for which ecosystems a sync covers. Asked for one, that one; for all, all;
 * by default (the schedule, `safelist sync`): each whose module says it belongs (PyPI always,
 * conda when some allowlist or exception names a conda package, OCI when upstreams are configured).
 */
export function syncPlan(config: Config, policy: Policy, ecosystem: string): string[] {
  if (ecosystem === 'all') return [...SYNC_ECOSYSTEMS];
  if (ecosystem !== 'default') return [ecosystem];
  return SYNC_ECOSYSTEMS.filter((id) => ecosystems.get(id)!.sync!.inDefaultPlan(config, policy));
}

const names = z.array(z.string().min(1).max(200)).max(1000);
const syncParams = z.strictObject({
  ecosystem: z.enum(['all', 'default', ...SYNC_ECOSYSTEMS] as [string, ...string[]]).default('default'),
  dryRun: z.boolean().optional(),
  /** Names to sync (PyPI projects, OCI images; default: every name in scope). */
  projects: names.optional(),
  channels: names.optional(),
});
export type SyncParams = z.input<typeof syncParams>;

export const syncJob: Job<SyncParams, Record<string, JobOutcome>> = {
  name: 'sync',
  // One sync sequence at a time; each ecosystem's lock is taken by its own job.
  lock: 'sync',
  schedule: (config) => config.sync.schedule,
  params: syncParams,
  async run({ params, deps, run }) {
    const dryRun = params.dryRun ?? false;
    const out: Record<string, JobOutcome> = {};
    for (const id of syncPlan(deps.config, deps.runtime.policies.policy, params.ecosystem ?? 'default')) {
      const common = {
        dryRun,
        ...(params.projects ? { names: params.projects } : {}),
        ...(params.channels ? { channels: params.channels } : {}),
      };
      out[id] = await run(syncJobs.get(id)!, ecosystems.get(id)!.sync!.paramsFrom(common));
    }
    return out;
  },
};
