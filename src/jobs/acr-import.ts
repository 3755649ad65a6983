// acr-import: the allowlisted, mirrored images of oci.acrTarget.view imported into the
// organisation's Azure Container Registry (ARM importImage, by digest). Runs after an OCI sync
// when oci.acrTarget.afterSync is set, and on demand (`safelist acr-import`, the API).
// The plan and the ARM calls stay in ecosystems/oci/acr-target.ts.
import { z } from 'zod';
import { errors } from '../errors.js';
import { openedOci } from '../ecosystems/oci/module.js';
import { AcrImportLedger, planAcrImport, runAcrTarget, type AcrImportReport } from '../ecosystems/oci/acr-target.js';
import type { Job } from './types.js';

const params = z.strictObject({ dryRun: z.boolean().optional(), all: z.boolean().optional() });

export type AcrImportResult =
  | { dryRun: true; registry: string; todo: Array<{ source: string; target: string }>; total: number; problems: string[] }
  | (AcrImportReport & { dryRun?: false; registry: string; problems: string[] });

export const acrImportJob: Job<z.infer<typeof params>, AcrImportResult> = {
  name: 'acr-import',
  lock: 'oci:acr-import',
  params,
  async run({ params: p, deps, emit }) {
    const { config, runtime: rt } = deps;
    const target = config.oci.acrTarget;
    if (!target) throw errors.badRequest('no oci.acrTarget is configured (subscriptionId, resourceGroup, registryName)');
    if (p.dryRun) {
      const plan = planAcrImport(openedOci(rt).catalog, rt.policies.policy, target, config.oci.upstreams);
      const todo = p.all ? plan.items : await new AcrImportLedger(rt.db).pending(target.registryName, plan.items);
      const lines = todo.map((i) => ({
        source: `${i.parameters.source.registryUri}/${i.parameters.source.sourceImage}`,
        target: `${target.registryName}/${i.parameters.targetTags![0]}`,
      }));
      return { dryRun: true, registry: target.registryName, todo: lines, total: plan.items.length, problems: plan.problems };
    }
    // The Azure SDKs are loaded when an import runs, not by every process that lists this job.
    const [{ ContainerRegistryManagementClient }, { DefaultAzureCredential }] = await Promise.all([
      import('@azure/arm-containerregistry'),
      import('@azure/identity'),
    ]);
    const credential = deps.azure?.credential ?? new DefaultAzureCredential();
    const client = new ContainerRegistryManagementClient(credential, target.subscriptionId, {
      endpoint: target.endpoint,
      ...deps.azure?.clientOptions,
    });
    const r = await runAcrTarget(
      { db: rt.db, catalog: openedOci(rt).catalog, policy: rt.policies.policy, target, upstreams: config.oci.upstreams, client },
      { all: p.all === true, onEvent: emit },
    );
    for (const problem of r.problems) emit({ type: 'warning', message: problem });
    return { ...r, registry: target.registryName };
  },
  // Kept as oci.acr-imported (what audit queries already look for), written when something moved.
  audit: (r) =>
    r.dryRun || (!r.imported.length && !r.failed.length)
      ? undefined
      : { action: 'oci.acr-imported', subject: r.registry, detail: { imported: r.imported, failed: r.failed, unchanged: r.unchanged } },
};
