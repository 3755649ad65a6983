// `safelist acr-import [--dry-run] [--all]`: imports the allowlisted, mirrored images of
// oci.acrTarget.view into the configured Azure Container Registry (ARM importImage, by digest),
// authenticating with DefaultAzureCredential (managed identity, workload identity, az login).
// Tags the target already holds at the same digest are skipped unless --all.
import { parseArgs } from 'node:util';
import { DefaultAzureCredential } from '@azure/identity';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import type { Config } from '../config/schema.js';
import { AcrImportLedger, planAcrImport, runAcrTarget } from '../ecosystems/oci/acr-target.js';
import { openRuntime } from '../runtime.js';

export async function acrImportCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' }, all: { type: 'boolean' } } });
  const target = config.oci.acrTarget;
  if (!target) {
    process.stderr.write('safelist acr-import: no oci.acrTarget is configured (subscriptionId, resourceGroup, registryName)\n');
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    if (values['dry-run']) {
      const plan = planAcrImport(rt.ociCatalog, rt.policies.policy, target, config.oci.upstreams);
      for (const p of plan.problems) process.stderr.write(`problem: ${p}\n`);
      const todo = values.all ? plan.items : await new AcrImportLedger(rt.db).pending(target.registryName, plan.items);
      for (const i of todo) process.stdout.write(`  ${i.parameters.source.registryUri}/${i.parameters.source.sourceImage} -> ${target.registryName}/${i.parameters.targetTags![0]}\n`);
      process.stdout.write(`${todo.length} to import, ${plan.items.length - todo.length} already in ${target.registryName} at the same digest\n`);
      return plan.problems.length ? 1 : 0;
    }
    const client = new ContainerRegistryManagementClient(new DefaultAzureCredential(), target.subscriptionId, { endpoint: target.endpoint });
    const report = await runAcrTarget({ db: rt.db, catalog: rt.ociCatalog, policy: rt.policies.policy, target, upstreams: config.oci.upstreams, client }, {
      all: values.all === true,
      onEvent: (e) => {
        if (e.type === 'importing') process.stderr.write(`[${e.index}/${e.total}] ${e.image} (${e.digest})\n`);
        if (e.type === 'failed') process.stderr.write(`  FAILED ${e.image}: ${e.error}\n`);
      },
    });
    for (const p of report.problems) process.stderr.write(`problem: ${p}\n`);
    process.stdout.write(`${JSON.stringify({ imported: report.imported.length, unchanged: report.unchanged, failed: report.failed.length })}\n`);
    return report.failed.length || report.problems.length ? 1 : 0;
  } finally {
    await rt.close();
  }
}
