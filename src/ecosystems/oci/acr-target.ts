// The ACR target: puts the allowlisted images into an organisation's own Azure Container
// Registry with ARM importImage (Defender scans them on import), so deployments pull curated
// base images from ACR instead of through Safelist. The same policy decides: exactly the
// tags a view allows, as mirrored, each imported by digest (never by a tag that could have
// moved upstream since it was checked) and tagged in the target with its upstream tag.
import type { ContainerRegistryManagementClient, ImportImageParameters } from '@azure/arm-containerregistry';
import type { AcrTargetConfig, OciUpstreamConfig } from './config.js';
import type { Policy } from '../../policy/decide.js';
import type { Db } from '../../state/db.js';
import type { OciCatalog } from './catalog.js';
import { splitImageName } from './names.js';

export interface AcrImportItem {
  /** Safelist name, <registry>/<repository>. */
  name: string;
  tag: string;
  digest: string;
  parameters: ImportImageParameters;
}

export interface AcrImportPlan {
  items: AcrImportItem[];
  problems: string[];
}

export interface AcrImportReport {
  imported: Array<{ image: string; digest: string }>;
  failed: Array<{ image: string; error: string }>;
  /** Already in the target at the same digest (from an earlier run). */
  unchanged?: number;
}

export type AcrImportEvent =
  | { type: 'importing'; image: string; digest: string; index: number; total: number }
  | { type: 'imported'; image: string; digest: string }
  | { type: 'failed'; image: string; error: string };

/** What the target should hold: every tag the view allows, as mirrored, by digest. */
export function planAcrImport(
  catalog: OciCatalog,
  policy: Policy,
  target: AcrTargetConfig,
  upstreams: readonly OciUpstreamConfig[],
): AcrImportPlan {
  const plan: AcrImportPlan = { items: [], problems: [] };
  if (!policy.hasView(target.view)) {
    plan.problems.push(`oci.acrTarget.view "${target.view}" is not a configured view (${policy.viewNames().join(', ')})`);
    return plan;
  }
  for (const name of catalog.imageNames()) {
    const parts = splitImageName(name);
    if (!parts) continue;
    const upstream = upstreams.find((u) => u.name === parts.registry);
    const registryUri = target.sourceRegistries[parts.registry] ?? (upstream ? new URL(upstream.url).host : undefined);
    const tags = catalog.viewAccess(policy, name, target.view).tags;
    if (tags.length && !registryUri) {
      plan.problems.push(
        `${name}: no source registry for "${parts.registry}"; set oci.acrTarget.sourceRegistries.${parts.registry} or configure that upstream`,
      );
      continue;
    }
    for (const [tag, digest] of tags) {
      plan.items.push({
        name,
        tag,
        digest,
        parameters: {
          source: {
            registryUri: registryUri!,
            sourceImage: `${parts.repository}@${digest}`,
            ...(upstream?.username !== undefined
              ? { credentials: { username: upstream.username, password: upstream.password ?? '' } }
              : {}),
          },
          targetTags: [`${parts.repository}:${tag}`],
          // The target follows the allowlist: a tag re-pointed upstream (and synced) moves too.
          mode: 'Force',
        },
      });
    }
  }
  return plan;
}

/** Runs the imports one after another (ARM throttles per subscription); one failure does not stop the rest. */
export async function importToAcr(
  client: Pick<ContainerRegistryManagementClient, 'registries'>,
  target: AcrTargetConfig,
  items: readonly AcrImportItem[],
  opts: { onEvent?: (e: AcrImportEvent) => void; updateIntervalInMs?: number } = {},
): Promise<AcrImportReport> {
  const emit = opts.onEvent ?? (() => undefined);
  const report: AcrImportReport = { imported: [], failed: [] };
  let index = 0;
  for (const item of items) {
    const image = `${item.name}:${item.tag}`;
    emit({ type: 'importing', image, digest: item.digest, index: ++index, total: items.length });
    try {
      await client.registries.beginImportImageAndWait(target.resourceGroup, target.registryName, item.parameters, {
        ...(opts.updateIntervalInMs !== undefined ? { updateIntervalInMs: opts.updateIntervalInMs } : {}),
      });
      report.imported.push({ image, digest: item.digest });
      emit({ type: 'imported', image, digest: item.digest });
    } catch (err) {
      const e = err as { message?: string; code?: string; statusCode?: number };
      const error = `ARM importImage into ${target.registryName} failed${e.statusCode ? ` (${e.statusCode})` : ''}${e.code ? ` ${e.code}` : ''}: ${e.message ?? String(err)}`;
      report.failed.push({ image, error });
      emit({ type: 'failed', image, error });
    }
  }
  return report;
}

/**
 * What has been imported into each target registry, per tag and digest: a run imports only
 * tags that are new or whose allowed digest moved, so the target can follow every sync.
 */
export class AcrImportLedger {
  constructor(private readonly db: Db) {}

  /** The items the target does not hold yet at their digest. */
  async pending(registry: string, items: readonly AcrImportItem[]): Promise<AcrImportItem[]> {
    const rows = await this.db.query<{ name: string; tag: string; digest: string }>(
      'SELECT name, tag, digest FROM oci_acr_imports WHERE registry = $1',
      [registry],
    );
    const have = new Set(rows.map((r) => `${r.name}:${r.tag}@${r.digest}`));
    return items.filter((i) => !have.has(`${i.name}:${i.tag}@${i.digest}`));
  }

  async record(registry: string, item: Pick<AcrImportItem, 'name' | 'tag' | 'digest'>): Promise<void> {
    await this.db.query(
      `INSERT INTO oci_acr_imports (registry, name, tag, digest) VALUES ($1, $2, $3, $4)
       ON CONFLICT (registry, name, tag) DO UPDATE SET digest = EXCLUDED.digest, imported_at = now()`,
      [registry, item.name, item.tag, item.digest],
    );
  }
}

/** Plans, skips what the ledger says the target holds (unless all), imports the rest and records each success. */
export async function runAcrTarget(
  deps: {
    db: Db;
    catalog: OciCatalog;
    policy: Policy;
    target: AcrTargetConfig;
    upstreams: readonly OciUpstreamConfig[];
    client: Pick<ContainerRegistryManagementClient, 'registries'>;
  },
  opts: { all?: boolean; onEvent?: (e: AcrImportEvent) => void; updateIntervalInMs?: number } = {},
): Promise<AcrImportReport & { problems: string[] }> {
  const plan = planAcrImport(deps.catalog, deps.policy, deps.target, deps.upstreams);
  const ledger = new AcrImportLedger(deps.db);
  const todo = opts.all ? plan.items : await ledger.pending(deps.target.registryName, plan.items);
  const byImage = new Map(todo.map((i) => [`${i.name}:${i.tag}`, i]));
  const report = await importToAcr(deps.client, deps.target, todo, {
    ...(opts.updateIntervalInMs !== undefined ? { updateIntervalInMs: opts.updateIntervalInMs } : {}),
    onEvent: (e) => opts.onEvent?.(e),
  });
  for (const done of report.imported) await ledger.record(deps.target.registryName, byImage.get(done.image)!);
  return { ...report, unchanged: plan.items.length - todo.length, problems: plan.problems };
}
