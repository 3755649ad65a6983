// Static publish mode, the literal "private storage" pattern: each view's PyPI simple tree
// rendered as static files into a blob container (an Azure Blob static website `$web`,
// reachable from a managed network through a storage private endpoint) or a folder. Only
// what the view allows is copied; pages keep Safelist's relative links, so the tree is
// `pypi/<view>/simple/<project>/index.html` beside `pypi/<view>/files/<sha256>/<filename>`.
// Runs again after every policy or catalog change: what a view no longer allows is removed.
// A static site cannot refuse with a reason: blocked versions are left out entirely.
import type { PypiIndex } from '../ecosystems/pypi/index.js';
import type { PypiCatalog } from '../ecosystems/pypi/catalog.js';
import { blobKeyForSha256 } from '../catalog/blob-keys.js';
import type { Policy } from '../policy/decide.js';
import type { BlobStore } from '../storage/types.js';

export interface PublishReport {
  views: string[];
  pages: number;
  filesCopied: number;
  filesPresent: number;
  removed: number;
}

const HTML = 'text/html; charset=utf-8';

export async function publishStatic(deps: { policy: Policy; pypi: PypiIndex; catalog: PypiCatalog; source: BlobStore; target: BlobStore }, opts: { views?: string[] } = {}): Promise<PublishReport> {
  const { policy, pypi, catalog, source, target } = deps;
  const views = opts.views ?? policy.viewNames();
  const report: PublishReport = { views, pages: 0, filesCopied: 0, filesPresent: 0, removed: 0 };
  for (const view of views) {
    const wanted = new Set<string>();
    const put = async (key: string, body: Buffer) => {
      wanted.add(key);
      await target.put(key, body, { contentType: HTML });
      report.pages++;
    };
    const prefix = `pypi/${view}`;
    await put(`${prefix}/simple/index.html`, pypi.rootPage(view, 'html').body);
    for (const name of [...catalog.projectNames()].sort()) {
      if (!policy.projectVisible('pypi', name, view)) continue;
      await put(`${prefix}/simple/${name}/index.html`, pypi.projectPage(view, name, 'html').body);
      for (const f of catalog.project(name)!.files) {
        if (!f.stored || !pypi.decideFile(f, view).allowed) continue;
        const copies: Array<[string, string, number | undefined]> = [[`${prefix}/files/${f.sha256}/${f.filename}`, blobKeyForSha256(f.sha256), f.size]];
        if (f.metadataStored && f.metadataSha256) copies.push([`${prefix}/files/${f.sha256}/${f.filename}.metadata`, blobKeyForSha256(f.metadataSha256), undefined]);
        for (const [key, from, size] of copies) {
          wanted.add(key);
          const have = await target.stat(key);
          if (have && (size === undefined || have.size === size)) {
            report.filesPresent++;
            continue;
          }
          await target.put(key, await source.get(from), { contentType: 'application/octet-stream' });
          report.filesCopied++;
        }
      }
    }
    // Whatever the view no longer allows leaves the site.
    for await (const key of target.list(prefix)) {
      if (!wanted.has(key)) {
        await target.delete(key);
        report.removed++;
      }
    }
  }
  return report;
}
