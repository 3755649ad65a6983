// The sync jobs: one per ecosystem (sync:pypi, sync:conda, sync:oci), each under its own lock,
// and `sync`, which runs the ecosystems one rule picks (syncPlan) — the rule the schedule, an
// approval and `safelist sync` share. The sync bodies stay in sync/*.ts; this file only wraps them.
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Policy } from '../policy/decide.js';
import { runPypiSync, type SyncReport } from '../sync/pypi-sync.js';
import { runCondaSync, type CondaSyncReport } from '../sync/conda-sync.js';
import { runOciSync, type OciSyncReport } from '../sync/oci-sync.js';
import { acrImportJob } from './acr-import.js';
import { runNpmSync, type NpmSyncReport } from '../ecosystems/npm/sync.js'; // npm (issue 12)
import type { Job, JobOutcome } from './types.js';

const names = z.array(z.string().min(1).max(200)).max(1000);

const pypiParams = z.strictObject({ dryRun: z.boolean().optional(), projects: names.optional() });
export const syncPypiJob: Job<z.infer<typeof pypiParams>, SyncReport> = {
  name: 'sync:pypi',
  lock: 'sync:pypi',
  params: pypiParams,
  run: ({ params, deps: { config, runtime: rt }, emit }) =>
    runPypiSync(
      { config, policy: rt.policies.policy, catalog: rt.pypiCatalog, store: rt.store },
      {
        dryRun: params.dryRun ?? false,
        onEvent: emit,
        ...(params.projects ? { only: params.projects } : {}),
      },
    ),
  audit: (r, p) =>
    p.dryRun
      ? undefined
      : {
          action: 'sync.finished',
          subject: 'pypi',
          detail: {
            downloaded: r.downloaded,
            bytes: r.bytes,
            failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
            missing: r.missing,
            ...(p.projects ? { projects: p.projects } : {}),
          },
        },
  record: (m, r, error) => m.recordSync('pypi', r, error),
};

const condaParams = z.strictObject({ dryRun: z.boolean().optional(), channels: names.optional() });
export const syncCondaJob: Job<z.infer<typeof condaParams>, CondaSyncReport> = {
  name: 'sync:conda',
  lock: 'sync:conda',
  params: condaParams,
  run: ({ params, deps: { config, runtime: rt }, emit }) =>
    runCondaSync(
      { config, policy: rt.policies.policy, catalog: rt.condaCatalog, store: rt.store, db: rt.db },
      {
        dryRun: params.dryRun ?? false,
        onEvent: emit,
        ...(params.channels ? { channels: params.channels } : {}),
      },
    ),
  audit: (r, p) =>
    p.dryRun
      ? undefined
      : {
          action: 'sync.finished',
          subject: 'conda',
          detail: { downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })) },
        },
  record: (m, r, error) => m.recordSync('conda', r, error),
};

const ociParams = z.strictObject({ dryRun: z.boolean().optional(), images: names.optional() });
export interface OciSyncResult extends OciSyncReport {
  /** The ACR import that follows a sync when oci.acrTarget.afterSync is set. */
  acrImport?: JobOutcome;
}
export const syncOciJob: Job<z.infer<typeof ociParams>, OciSyncResult> = {
  name: 'sync:oci',
  lock: 'sync:oci',
  params: ociParams,
  async run({ params, deps: { config, runtime: rt }, emit, run }) {
    const r: OciSyncResult = await runOciSync(
      { config, policy: rt.policies.policy, catalog: rt.ociCatalog, store: rt.store },
      {
        dryRun: params.dryRun ?? false,
        onEvent: emit,
        ...(params.images ? { only: params.images } : {}),
      },
    );
    // The ACR target follows the mirror: what is new or moved since the last import.
    if (!params.dryRun && config.oci.acrTarget?.afterSync) r.acrImport = await run(acrImportJob, {});
    return r;
  },
  audit: (r, p) =>
    p.dryRun
      ? undefined
      : {
          action: 'sync.finished',
          subject: 'oci',
          detail: {
            downloaded: r.downloaded,
            bytes: r.bytes,
            failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
            missing: r.missing,
          },
        },
  record: (m, r, error) => m.recordSync('oci', r, error),
};

// npm (issue 12): the npm sync, under its own lock like the others.
const npmParams = z.strictObject({ dryRun: z.boolean().optional(), packages: names.optional() });
export const syncNpmJob: Job<z.infer<typeof npmParams>, NpmSyncReport> = {
  name: 'sync:npm',
  lock: 'sync:npm',
  params: npmParams,
  run: ({ params, deps: { config, runtime: rt }, emit }) =>
    runNpmSync(
      { config, policy: rt.policies.policy, catalog: rt.npmCatalog, store: rt.store },
      { dryRun: params.dryRun ?? false, onEvent: emit, ...(params.packages ? { only: params.packages } : {}) },
    ),
  audit: (r, p) =>
    p.dryRun
      ? undefined
      : {
          action: 'sync.finished',
          subject: 'npm',
          detail: { downloaded: r.downloaded, bytes: r.bytes, failed: r.failed, missing: r.missing },
        },
  record: (m, r, error) => m.recordSync('npm', r, error),
};

export const SYNC_ECOSYSTEMS = ['pypi', 'conda', 'oci', 'npm'] as const;
export type SyncEcosystem = (typeof SYNC_ECOSYSTEMS)[number];

/**
 * The one rule for which ecosystems a sync covers. Asked for one, that one; for all, all;
 * by default (the schedule, `safelist sync`): PyPI always, conda when some allowlist or
 * exception names a conda package, OCI when oci.upstreams are configured.
 */
export function syncPlan(config: Config, policy: Policy, ecosystem: SyncEcosystem | 'all' | 'default'): SyncEcosystem[] {
  if (ecosystem === 'all') return [...SYNC_ECOSYSTEMS];
  if (ecosystem !== 'default') return [ecosystem];
  return [
    'pypi',
    ...(policy.rules.some((r) => r.ecosystem === 'conda') ? (['conda'] as const) : []),
    ...(config.oci.upstreams.length > 0 ? (['oci'] as const) : []),
    // npm (issue 12): when an upstream registry is configured and some rule names an npm package.
    ...(config.npm.upstreams.length > 0 && policy.rules.some((r) => r.ecosystem === 'npm') ? (['npm'] as const) : []),
  ];
}

const syncParams = z.strictObject({
  ecosystem: z.enum([...SYNC_ECOSYSTEMS, 'all', 'default']).default('default'),
  dryRun: z.boolean().optional(),
  /** PyPI projects and OCI images to sync (default: every name in scope). */
  projects: names.optional(),
  channels: names.optional(),
});
export type SyncParams = z.input<typeof syncParams>;

export const syncJob: Job<SyncParams, Partial<Record<SyncEcosystem, JobOutcome>>> = {
  name: 'sync',
  // One sync sequence at a time; each ecosystem's lock is taken by its own job.
  lock: 'sync',
  schedule: (config) => config.sync.schedule,
  params: syncParams,
  async run({ params, deps, run }) {
    const dryRun = params.dryRun ?? false;
    const out: Partial<Record<SyncEcosystem, JobOutcome>> = {};
    for (const eco of syncPlan(deps.config, deps.runtime.policies.policy, params.ecosystem ?? 'default')) {
      if (eco === 'pypi') out.pypi = await run(syncPypiJob, { dryRun, ...(params.projects ? { projects: params.projects } : {}) });
      if (eco === 'conda') out.conda = await run(syncCondaJob, { dryRun, ...(params.channels ? { channels: params.channels } : {}) });
      if (eco === 'oci') out.oci = await run(syncOciJob, { dryRun, ...(params.projects ? { images: params.projects } : {}) });
      if (eco === 'npm') out.npm = await run(syncNpmJob, { dryRun, ...(params.projects ? { packages: params.projects } : {}) }); // npm (issue 12)
    }
    return out;
  },
};
