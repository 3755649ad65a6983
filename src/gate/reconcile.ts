// The reconcile job: ACR tries a webhook once and drops it on any failure, so on a schedule the
// gate lists what each configured registry holds and queues every image it has never seen, as
// if its push had been notified: on ACR the most recently updated manifests of each repository
// (platform manifests of an index are judged through the index), elsewhere catalog → tags →
// digests. Images already known are left alone; a registry or repository that cannot be
// listed is reported, not skipped silently.
import type { GateStore } from './store.js';
import type { GateRegistry } from './registry.js';

export interface ReconcileReport {
  registry: string;
  repositories: number;
  images: number;
  queued: Array<{ repository: string; tag?: string; digest: string }>;
  errors: string[];
}

export async function reconcileRegistries(
  registries: GateRegistry[],
  store: GateStore,
  opts: { maxRepositories?: number; maxPerRepository?: number } = {},
): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const reg of registries) {
    const report: ReconcileReport = { registry: reg.name, repositories: 0, images: 0, queued: [], errors: [] };
    reports.push(report);
    const seen = new Set<string>();
    try {
      for await (const item of reg.client.list(opts.maxRepositories ?? 1000, opts.maxPerRepository ?? 100)) {
        if ('error' in item) {
          report.errors.push(`${reg.name}/${item.error}`);
          continue;
        }
        const { repository, tag, digest } = item;
        if (!seen.has(repository)) {
          seen.add(repository);
          report.repositories++;
        }
        report.images++;
        if (await store.byDigest(digest, repository, reg.name)) continue;
        const fresh = await store.recordPushes(
          'reconcile',
          reg.name,
          [{ id: `reconcile:${reg.name}/${repository}@${digest}`, host: reg.host, repository, digest, ...(tag ? { tag } : {}) }],
          'system',
        );
        if (fresh.length) report.queued.push({ repository, digest, ...(tag ? { tag } : {}) });
      }
    } catch (err) {
      report.errors.push(`cannot list ${reg.name}: ${(err as Error).message}`);
    }
  }
  return reports;
}
