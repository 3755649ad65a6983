// Static publish mode, the literal "private storage" pattern: each view's indexes rendered as
// static files into a blob container (an Azure Blob static website `$web`, reachable from a
// managed network through a storage private endpoint) or a folder. Each registered ecosystem
// with a publish role writes its own tree under `<id>/<view>/` (PyPI's simple tree beside its
// files, conda's channels beside their packages); this file only keeps the target in step:
// content-addressed files copied once, and whatever a view no longer allows removed.
// Stops between files when its signal aborts (the publish job lost its lock).
// Runs again after every policy or catalog change. A static site cannot refuse with a reason:
// blocked versions are left out entirely; it must never leave behind a file a view stopped allowing.
import { blobKeyForSha256 } from '../catalog/blob-keys.js';
import type { OpenEcosystem, PublishSink } from '../ecosystems/types.js';
import type { Policy } from '../policy/decide.js';
import type { BlobStore } from '../storage/types.js';

export interface PublishReport {
  views: string[];
  pages: number;
  filesCopied: number;
  filesPresent: number;
  removed: number;
}

export async function publishStatic(
  deps: { policy: Policy; ecosystems: ReadonlyMap<string, OpenEcosystem>; source: BlobStore; target: BlobStore },
  opts: { views?: string[]; signal?: AbortSignal } = {},
): Promise<PublishReport> {
  const { policy, source, target } = deps;
  const views = opts.views ?? policy.viewNames();
  const report: PublishReport = { views, pages: 0, filesCopied: 0, filesPresent: 0, removed: 0 };
  for (const view of views) {
    for (const [id, eco] of deps.ecosystems) {
      if (!eco.publish) continue;
      const prefix = `${id}/${view}`;
      const wanted = new Set<string>();
      await eco.publish(view, sinkFor(prefix, wanted, source, target, report, opts.signal));
      // Whatever the view no longer allows leaves the site.
      for await (const key of target.list(prefix)) {
        opts.signal?.throwIfAborted();
        if (!wanted.has(key)) {
          await target.delete(key);
          report.removed++;
        }
      }
    }
  }
  return report;
}

/** Writes under `prefix/`, remembering every key written (what is not is removed afterwards). */
function sinkFor(
  prefix: string,
  wanted: Set<string>,
  source: BlobStore,
  target: BlobStore,
  report: PublishReport,
  signal: AbortSignal | undefined,
): PublishSink {
  return {
    async put(key, body, contentType) {
      signal?.throwIfAborted(); // between files: told to stop (its job lost its lock)
      wanted.add(`${prefix}/${key}`);
      await target.put(`${prefix}/${key}`, body, { contentType });
      report.pages++;
    },
    async putImmutable(key, body, contentType) {
      signal?.throwIfAborted();
      const full = `${prefix}/${key}`;
      wanted.add(full);
      const have = await target.stat(full);
      if (have?.size === body.length) return;
      await target.put(full, body, { contentType });
      report.pages++;
    },
    /** Copies a content-addressed object unless the site already has it (same size). */
    async copy(key, sha256, size) {
      signal?.throwIfAborted();
      const full = `${prefix}/${key}`;
      wanted.add(full);
      const have = await target.stat(full);
      if (have && (size === undefined || have.size === size)) {
        report.filesPresent++;
        return;
      }
      await target.put(full, await source.get(blobKeyForSha256(sha256)), { contentType: 'application/octet-stream' });
      report.filesCopied++;
    },
  };
}
