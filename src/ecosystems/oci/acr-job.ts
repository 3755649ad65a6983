// The `acr-import` job, a role of the OCI module (module.jobs): the allowlisted, mirrored images
// of oci.acrTarget.view imported into the organisation's Azure Container Registry (ARM
// importImage, by digest). Runs after an OCI sync when oci.acrTarget.afterSync is set (the sync
// spec's followUp), and on demand (`safelist acr-import`, the API); the core's runner takes its
// lock, records and audits it. The plan and the ARM calls are in acr-target.ts. It must never run
// without a configured target: it refuses with the key to set.
import { z } from 'zod';
import { azureProxyOptions } from '../../config/proxy.js';
import { errors } from '../../errors.js';
import type { ModuleJobContext, ModuleJobSpec } from '../types.js';
import { AcrImportLedger, planAcrImport, runAcrTarget, type AcrImportReport } from './acr-target.js';
import type { OciCatalog } from './catalog.js';
import { ociConfig } from './config.js';
import type { Db } from '../../state/db.js';

const params = z.strictObject({ dryRun: z.boolean().optional(), all: z.boolean().optional() });

export type AcrImportResult =
  | { dryRun: true; registry: string; todo: Array<{ source: string; target: string }>; total: number; problems: string[] }
  | (AcrImportReport & { dryRun?: false; registry: string; problems: string[] });

const NO_TARGET = 'no oci.acrTarget is configured (subscriptionId, resourceGroup, registryName)';

export const acrImportSpec: ModuleJobSpec = {
  name: 'acr-import',
  lock: 'oci:acr-import',
  params,
  unavailable: (config) => (ociConfig.of(config).acrTarget ? undefined : NO_TARGET),
  // Kept as oci.acr-imported (what audit queries already look for), written when something moved.
  audit: (result) => {
    const r = result as AcrImportResult;
    return r.dryRun || (!r.imported.length && !r.failed.length)
      ? undefined
      : { action: 'oci.acr-imported', subject: r.registry, detail: { imported: r.imported, failed: r.failed, unchanged: r.unchanged } };
  },
  eventLine: (e) =>
    e.type === 'importing'
      ? `[${String(e.index)}/${String(e.total)}] ${String(e.image)} (${String(e.digest)})`
      : e.type === 'failed'
        ? `  FAILED ${String(e.image)}: ${String(e.error)}`
        : undefined,
  report: (result) => {
    const r = result as AcrImportResult;
    const err = r.problems.map((p) => `problem: ${p}`);
    if (r.dryRun) {
      const out = [
        ...r.todo.map((t) => `  ${t.source} -> ${t.target}`),
        `${r.todo.length} to import, ${r.total - r.todo.length} already in ${r.registry} at the same digest`,
      ];
      return { out, err, exit: r.problems.length ? 1 : 0 };
    }
    const out = [JSON.stringify({ imported: r.imported.length, unchanged: r.unchanged, failed: r.failed.length })];
    return { out, err, exit: r.failed.length || r.problems.length ? 1 : 0 };
  },
};

/** Runs the ACR import against this runtime's OCI catalog (module.ts's runJob). */
export async function runAcrImport(
  catalog: OciCatalog,
  db: Db,
  input: Record<string, unknown>,
  { config, policy, emit, azure }: ModuleJobContext,
): Promise<AcrImportResult> {
  const p = params.parse(input);
  const { acrTarget: target, upstreams } = ociConfig.of(config);
  if (!target) throw errors.badRequest(NO_TARGET);
  if (p.dryRun) {
    const plan = planAcrImport(catalog, policy, target, upstreams);
    const todo = p.all ? plan.items : await new AcrImportLedger(db).pending(target.registryName, plan.items);
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
  const credential = azure?.credential ?? new DefaultAzureCredential();
  const proxyOptions = azureProxyOptions(config.network.proxy, target.endpoint);
  const client = new ContainerRegistryManagementClient(credential, target.subscriptionId, {
    endpoint: target.endpoint,
    ...(proxyOptions ? { proxyOptions } : {}),
    ...azure?.clientOptions,
  });
  const r = await runAcrTarget({ db, catalog, policy, target, upstreams, client }, { all: p.all === true, onEvent: emit });
  for (const problem of r.problems) emit({ type: 'warning', message: problem });
  return { ...r, registry: target.registryName };
}
