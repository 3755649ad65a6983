// Static publish mode, the literal "private storage" pattern: each view's PyPI simple tree and
// conda channels rendered as static files into a blob container (an Azure Blob static website
// `$web`, reachable from a managed network through a storage private endpoint) or a folder.
// Only what the view allows is copied; pages keep Safelist's relative links, so the tree is
// `pypi/<view>/simple/<project>/index.html` beside `pypi/<view>/files/<sha256>/<filename>`,
// and `conda/<view>/<channel>/<subdir>/repodata.json` beside the package files (a standard
// channel layout: set channel_alias to `<site>/conda/<view>`).
// Runs again after every policy or catalog change: what a view no longer allows is removed.
// A static site cannot refuse with a reason: blocked versions are left out entirely.
import type { PypiIndex } from '../ecosystems/pypi/index.js';
import type { CondaIndex } from '../ecosystems/conda/index.js';
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

export async function publishStatic(
  deps: { policy: Policy; pypi: PypiIndex; catalog: PypiCatalog; conda?: CondaIndex; source: BlobStore; target: BlobStore },
  opts: { views?: string[] } = {},
): Promise<PublishReport> {
  const { policy, pypi, catalog, source, target } = deps;
  const views = opts.views ?? policy.viewNames();
  const report: PublishReport = { views, pages: 0, filesCopied: 0, filesPresent: 0, removed: 0 };
  for (const view of views) {
    const wanted = new Set<string>();
    const put = async (key: string, body: Buffer, contentType = HTML) => {
      wanted.add(key);
      await target.put(key, body, { contentType });
      report.pages++;
    };
    /** Copies a content-addressed object unless the site already has it (same size). */
    const copy = async (key: string, sha256: string, size: number | undefined) => {
      wanted.add(key);
      const have = await target.stat(key);
      if (have && (size === undefined || have.size === size)) {
        report.filesPresent++;
        return;
      }
      await target.put(key, await source.get(blobKeyForSha256(sha256)), { contentType: 'application/octet-stream' });
      report.filesCopied++;
    };
    // Whatever the view no longer allows leaves the site.
    const removeUnwanted = async (prefix: string) => {
      for await (const key of target.list(prefix)) {
        if (!wanted.has(key)) {
          await target.delete(key);
          report.removed++;
        }
      }
    };
    const prefix = `pypi/${view}`;
    await put(`${prefix}/simple/index.html`, pypi.rootPage(view, 'html').body);
    for (const name of [...catalog.projectNames()].sort()) {
      if (!policy.projectVisible('pypi', name, view)) continue;
      await put(`${prefix}/simple/${name}/index.html`, pypi.projectPage(view, name, 'html').body);
      for (const f of catalog.project(name)!.files) {
        if (!f.stored || !pypi.decideFile(f, view).allowed) continue;
        await copy(`${prefix}/files/${f.sha256}/${f.filename}`, f.sha256, f.size);
        if (f.metadataStored && f.metadataSha256)
          await copy(`${prefix}/files/${f.sha256}/${f.filename}.metadata`, f.metadataSha256, undefined);
      }
    }
    await removeUnwanted(prefix);

    if (deps.conda) {
      const condaPrefix = `conda/${view}`;
      for (const channel of deps.conda.channels) {
        const base = `${condaPrefix}/${channel.name}`;
        await put(`${base}/channeldata.json`, deps.conda.channeldata(view, channel.name).body, 'application/json');
        for (const subdir of deps.conda.subdirsOf(channel)) {
          await put(`${base}/${subdir}/repodata.json`, deps.conda.repodata(view, channel.name, subdir).body, 'application/json');
          for (const p of deps.conda.allowedPackages(view, channel.name, subdir))
            await copy(`${base}/${subdir}/${p.filename}`, p.sha256, p.size);
        }
      }
      await removeUnwanted(condaPrefix);
    }
  }
  return report;
}
