// Incidents: for one package version (typically one just found malicious), who downloaded it
// (the download log: view, identity, first/last, count) and which images the gate knows
// contain it (the contents provider's records); and the re-judging of passed images that
// contain a package a malware rule now blocks. Read-only except for that requeue, which goes
// through GateStore.requeue (audited gate.requeued); the worker then fails, purges and notifies.
import { downloadsOf, type DownloadSummary } from '../audit/downloads.js';
import type { Policy } from '../policy/decide.js';
import type { Ecosystem } from '../policy/types.js';
import type { Queryable } from '../state/db.js';
import { imagesContaining, packagesOfPassedImages, type ImageWithPackage } from './image-packages.js';
import type { GateStore } from './store.js';
import type { ImageRef } from './types.js';

export interface IncidentReport {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  /** Malicious-package advisories that block this version now (empty: not known malicious). */
  malware: string[];
  downloads: DownloadSummary[];
  images: ImageWithPackage[];
}

export async function incidentReport(
  q: Queryable,
  policy: Policy,
  ecosystem: Ecosystem,
  name: string,
  version: string,
): Promise<IncidentReport> {
  const normalized = policy.normalize(ecosystem, name);
  const malware = policy
    .blocksFor(ecosystem, normalized)
    .filter((r) => r.matcher.matches(version))
    .map((r) => r.id ?? 'unnamed');
  return {
    ecosystem,
    name: normalized,
    version,
    malware,
    downloads: await downloadsOf(q, ecosystem, normalized, version),
    images: await imagesContaining(q, ecosystem, normalized, version),
  };
}

/**
 * Queues every passed image that contains a package a malware rule blocks now, to be judged
 * again (the contents provider then fails it: malware is allowed in no view). Resolves with
 * the images requeued.
 */
export async function rejudgeMalwareImages(q: Queryable, store: GateStore, policy: Policy, actor: string): Promise<ImageRef[]> {
  const hits = new Map<string, { image: ImageRef; packages: string[]; advisories: Set<string> }>();
  for (const p of await packagesOfPassedImages(q)) {
    // The ecosystems the contents provider records (gate/providers/contents.ts).
    if (p.ecosystem !== 'pypi' && p.ecosystem !== 'conda' && p.ecosystem !== 'npm') continue;
    const rules = policy.blocksFor(p.ecosystem, p.name).filter((r) => r.matcher.matches(p.version));
    if (!rules.length) continue;
    const key = `${p.registry}/${p.repository}@${p.digest}`;
    const hit = hits.get(key) ?? {
      image: { registry: p.registry, repository: p.repository, digest: p.digest },
      packages: [],
      advisories: new Set(),
    };
    hit.packages.push(`${p.ecosystem} ${p.name} ${p.version}`);
    for (const r of rules) hit.advisories.add(r.id ?? 'unnamed');
    hits.set(key, hit);
  }
  const requeued: ImageRef[] = [];
  for (const h of hits.values()) {
    const advisories = [...h.advisories];
    const cause = `it contains ${h.packages.join(', ')}, blocked as malicious (${advisories.join(', ')})`;
    requeued.push(...(await store.requeue([h.image], actor, { cause, advisories, packages: h.packages })));
  }
  return requeued;
}
