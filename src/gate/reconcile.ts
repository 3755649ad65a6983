// The reconcile job: ACR tries a webhook once and drops it on any failure, so on a schedule the
// gate lists what each configured registry holds (catalog → tags → manifest digests) and queues
// every image it has never seen, as if its push had been notified. Images already known are
// left alone; a registry that cannot be listed is reported, not skipped silently.
import type { GateStore } from './store.js';
import type { GateRegistry } from './worker.js';

export interface ReconcileReport {
  registry: string;
  repositories: number;
  tags: number;
  queued: Array<{ repository: string; tag: string; digest: string }>;
  errors: string[];
}

export async function reconcileRegistries(registries: GateRegistry[], store: GateStore, opts: { maxRepositories?: number; maxTags?: number } = {}): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const reg of registries) {
    const report: ReconcileReport = { registry: reg.name, repositories: 0, tags: 0, queued: [], errors: [] };
    reports.push(report);
    let repositories: string[];
    try {
      repositories = await reg.client.repositories(opts.maxRepositories ?? 1000);
    } catch (err) {
      report.errors.push(`cannot list repositories of ${reg.name}: ${(err as Error).message}`);
      continue;
    }
    for (const repository of repositories) {
      report.repositories++;
      try {
        const tags = ((await reg.client.tags(repository)) ?? []).slice(-(opts.maxTags ?? 100));
        for (const tag of tags) {
          report.tags++;
          const m = await reg.client.manifest(repository, tag);
          if (await store.byDigest(m.digest, repository, reg.name)) continue;
          const fresh = await store.recordPushes('reconcile', reg.name, [{ id: `reconcile:${reg.name}/${repository}@${m.digest}`, host: reg.host, repository, tag, digest: m.digest }], 'system');
          if (fresh.length) report.queued.push({ repository, tag, digest: m.digest });
        }
      } catch (err) {
        report.errors.push(`${reg.name}/${repository}: ${(err as Error).message}`);
      }
    }
  }
  return reports;
}
