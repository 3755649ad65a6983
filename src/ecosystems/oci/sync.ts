// The OCI sync: for every image name some view may see, lists the upstream's tags, and for each
// tag a view may allow reads its manifest (an index and each allowed platform manifest, then
// config and layers), verifying every object against its digest while storing it under its
// sha256, so layers shared between images and repositories are stored once. A tag is recorded
// only after everything it reaches is stored (resumable: a rerun skips what is present;
// idempotent: an unchanged tag costs one manifest request). Never records unverified bytes.
import pLimit from 'p-limit';
import type { Config } from '../../config/schema.js';
import { durationMs } from '../../config/schema.js';
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import { storeBuffer, storeVerified } from '../../catalog/ingest.js';
import type { OciCatalog, OciManifestRecord, OciRef } from './catalog.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { digestHex, splitImageName } from './names.js';
import { OciUpstream } from './upstream.js';
import type { Policy } from '../../policy/decide.js';
import type { BlobStore } from '../../storage/types.js';
import { z } from 'zod';
import type { SyncEvent, SyncSpec } from '../types.js';
import { ociConfig } from './config.js';

export interface OciSyncReport {
  images: Array<{ name: string; upstream: string | null; tags: number; synced: string[]; present: string[] }>;
  downloaded: number;
  bytes: number;
  failed: Array<{ filename: string; error: string }>;
  missing: string[];
}

export interface OciSyncDeps {
  config: Config;
  policy: Policy;
  catalog: OciCatalog;
  store: BlobStore;
}

/** Could some view allow this tag (digest pins are checked once the digest is known)? */
function tagWanted(policy: Policy, name: string, tag: string): boolean {
  return policy.viewNames().some((view) => policy.activeRules('oci', name, view).some((r) => r.matcher.matches(tag)));
}

function allowedSomewhere(policy: Policy, name: string, tag: string, digest: string, platform?: string): boolean {
  return policy
    .viewNames()
    .some((view) => policy.decide({ ecosystem: 'oci', name, version: tag, view, digest, ...(platform ? { platform } : {}) }).allowed);
}

export async function runOciSync(
  deps: OciSyncDeps,
  opts: { dryRun?: boolean; onEvent?: (e: SyncEvent) => void; only?: string[]; signal?: AbortSignal | undefined } = {},
): Promise<OciSyncReport> {
  const { config, policy, catalog, store } = deps;
  const { signal } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const timeout = durationMs(config.sync.timeout);
  const upstreams = new Map(
    ociConfig.of(config).upstreams.map((u) => [u.name, new OciUpstream(u, { timeoutMs: timeout, retries: config.sync.retries })]),
  );
  const names = [...(opts.only ?? policy.namesInScope('oci'))].sort();
  const report: OciSyncReport = { images: [], downloaded: 0, bytes: 0, failed: [], missing: [] };
  const limit = pLimit(config.sync.concurrency);
  // One download per blob at a time, even when several tags or repositories share it.
  const inflight = new Map<string, Promise<void>>();

  const fetchBlob = (upstream: OciUpstream, repository: string, d: Descriptor, what: string): Promise<void> => {
    const running = inflight.get(d.digest);
    if (running) return running;
    const p = limit(async () => {
      signal?.throwIfAborted(); // told to stop: no new blob
      const key = blobKeyForSha256(digestHex(d.digest));
      const present = await store.stat(key);
      if (present && present.size === d.size) return;
      const { body } = await upstream.open({ repository, digest: d.digest }, { signal });
      const stored = await storeVerified(store, body, { sha256: digestHex(d.digest), size: d.size, what });
      report.downloaded++;
      report.bytes += stored.size;
      emit({ type: 'fetched', filename: what, size: stored.size, written: stored.written });
    });
    inflight.set(d.digest, p);
    p.catch(() => inflight.delete(d.digest));
    return p;
  };

  let index = 0;
  for (const name of names) {
    if (signal?.aborted) break; // told to stop: no further image
    index++;
    const parts = splitImageName(name);
    const upstream = parts ? upstreams.get(parts.registry) : undefined;
    if (!parts || !upstream) {
      const error = `no oci upstream named "${parts?.registry ?? name}" is configured (oci.upstreams)`;
      report.failed.push({ filename: name, error });
      emit({ type: 'project', name, upstream: null, files: 0, toFetch: 0, index, total: names.length, error });
      continue;
    }
    const { repository } = parts;
    let tags: string[] | undefined;
    try {
      tags = await upstream.index(repository);
    } catch (err) {
      report.failed.push({ filename: `${name}:`, error: (err as Error).message });
      emit({ type: 'failed', filename: `${name} (tags)`, error: (err as Error).message });
      continue;
    }
    if (!tags) {
      report.missing.push(name);
      emit({ type: 'project', name, upstream: null, files: 0, toFetch: 0, index, total: names.length });
      continue;
    }
    const wanted = tags.filter((t) => tagWanted(policy, name, t)).sort();
    emit({ type: 'project', name, upstream: upstream.name, files: tags.length, toFetch: wanted.length, index, total: names.length });
    const item = { name, upstream: upstream.name, tags: tags.length, synced: [] as string[], present: [] as string[] };
    report.images.push(item);
    if (opts.dryRun) {
      item.synced.push(...wanted);
      continue;
    }
    for (const tag of wanted) {
      if (signal?.aborted) break;
      const ref = `${name}:${tag}`;
      try {
        const top = await upstream.manifest(repository, tag);
        if (!allowedSomewhere(policy, name, tag, top.digest)) {
          emit({ type: 'warning', message: `${ref} is ${top.digest} upstream, which no view allows (pinned digests); not synced` });
          continue;
        }
        const image = catalog.image(name);
        if (catalog.tagDigest(name, tag) === top.digest && image && (await store.stat(blobKeyForSha256(digestHex(top.digest))))) {
          item.present.push(tag);
          continue;
        }
        const manifests: OciManifestRecord[] = [];
        const refs: OciRef[] = [];
        const blobs: Array<Promise<void>> = [];
        const addImage = (digest: string, bytes: Buffer, contentType: string, where: string) => {
          const parsed = parseManifest(bytes, contentType, where);
          manifests.push({ digest, mediaType: parsed.mediaType, size: bytes.length });
          return parsed;
        };
        const walkImage = (digest: string, parsed: ReturnType<typeof parseManifest>) => {
          if (parsed.kind !== 'image') throw new Error(`${ref}: an index inside an index is not supported`);
          for (const d of [parsed.config, ...parsed.layers]) {
            refs.push({ parent: digest, child: d.digest, kind: 'blob', mediaType: d.mediaType, size: d.size, platform: null });
            blobs.push(fetchBlob(upstream, repository, d, `${name}@${d.digest}`));
          }
        };
        const topParsed = addImage(top.digest, top.bytes, top.mediaType, ref);
        const manifestBytes: Buffer[] = [top.bytes];
        if (topParsed.kind === 'index') {
          for (const child of topParsed.manifests) {
            // A child without a platform (attestations, artifacts) is kept only if every platform is.
            if (!allowedSomewhere(policy, name, tag, top.digest, child.platform ?? 'unknown/unknown')) continue;
            const m = await upstream.manifest(repository, child.digest);
            if (m.bytes.length !== child.size)
              throw new Error(`${ref}: platform manifest ${child.digest} is ${m.bytes.length} bytes, the index says ${child.size}`);
            refs.push({
              parent: top.digest,
              child: child.digest,
              kind: 'manifest',
              mediaType: child.mediaType,
              size: child.size,
              platform: child.platform ?? 'unknown/unknown',
            });
            manifestBytes.push(m.bytes);
            walkImage(child.digest, addImage(child.digest, m.bytes, child.mediaType, `${ref} ${child.platform ?? child.digest}`));
          }
        } else {
          walkImage(top.digest, topParsed);
        }
        const results = await Promise.allSettled(blobs);
        const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) throw failure.reason;
        for (const b of manifestBytes) await storeBuffer(store, b, `${ref} manifest`);
        await catalog.commitTag({ name, tag, digest: top.digest, source: upstream.name, manifests, refs });
        item.synced.push(tag);
        emit({ type: 'fetched', filename: `${ref} -> ${top.digest}`, size: top.bytes.length, written: true });
      } catch (err) {
        if (signal?.aborted) break; // stopped, not the tag's failure: the run ends with the signal's reason
        report.failed.push({ filename: ref, error: (err as Error).message });
        emit({ type: 'failed', filename: ref, error: (err as Error).message });
      }
    }
  }
  signal?.throwIfAborted();
  return report;
}

const names = z.array(z.string().min(1).max(200)).max(1000);
const syncParams = z.strictObject({ dryRun: z.boolean().optional(), images: names.optional() });

/** The `sync:oci` job: the images in scope (or those named) from the configured registries. */
export const ociSyncSpec: SyncSpec = {
  params: syncParams,
  paramsFrom: (c) => ({ dryRun: c.dryRun, ...(c.names ? { images: c.names } : {}) }),
  // Part of a default sync when an upstream registry is configured.
  inDefaultPlan: (config) => ociConfig.of(config).upstreams.length > 0,
  afterApproval: (config) => (ociConfig.of(config).upstreams.length ? {} : undefined),
  auditDetail: (r) => ({
    downloaded: r.downloaded,
    bytes: r.bytes,
    failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
    missing: r.missing,
  }),
  // The ACR target follows the mirror: what is new or moved since the last import.
  followUp: (config) => (ociConfig.of(config).acrTarget?.afterSync ? { job: 'acr-import', params: {} } : undefined),
  summary(report, dryRun) {
    const r = report as OciSyncReport;
    if (dryRun) {
      const lines = ['oci plan:'];
      for (const i of r.images)
        lines.push(`  ${i.name} (${i.upstream}): ${i.tags} upstream tag(s), allowed: ${i.synced.join(', ') || 'none'}`);
      for (const m of r.missing) lines.push(`  ${m}: not found upstream`);
      return lines;
    }
    const tags = r.images.reduce((n, i) => n + i.synced.length, 0);
    const present = r.images.reduce((n, i) => n + i.present.length, 0);
    return [
      JSON.stringify({
        ecosystem: 'oci',
        tags,
        present,
        downloaded: r.downloaded,
        bytes: r.bytes,
        failed: r.failed.length,
        missing: r.missing,
      }),
    ];
  },
};
