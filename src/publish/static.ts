// Static publish mode, the literal "private storage" pattern: each view's PyPI simple tree and
// conda channels rendered as static files into a blob container (an Azure Blob static website
// `$web`, reachable from a managed network through a storage private endpoint) or a folder.
// Only what the view allows is copied; pages keep Safelist's relative links, so the tree is
// `pypi/<view>/simple/<project>/index.html` beside `pypi/<view>/files/<sha256>/<filename>`,
// and `conda/<view>/<channel>/<subdir>/repodata.json` (with repodata.json.zst and CEP 16 shards,
// as served) beside the package files (a standard channel layout: set channel_alias to
// `<site>/conda/<view>`).
// Runs again after every policy or catalog change: what a view no longer allows is removed.
// A static site cannot refuse a file with a reason: blocked versions are left out entirely; a
// project the view refuses as a whole gets the page the server renders, PEP 792 "quarantined"
// with the reason and no file. Never writes a file the view's policy refuses.
import type { PypiIndex } from '../ecosystems/pypi/index.js';
import type { CondaIndex } from '../ecosystems/conda/index.js';
import { condaSubdirDocuments } from '../ecosystems/conda/publish.js';
import type { PypiCatalog } from '../ecosystems/pypi/catalog.js';
import { blobKeyForSha256 } from '../catalog/blob-keys.js';
import { SafelistError } from '../errors.js';
import type { Policy } from '../policy/decide.js';
import type { BlobStore } from '../storage/types.js';

export interface PublishReport {
  views: string[];
  pages: number;
  filesCopied: number;
  filesPresent: number;
  removed: number;
}

export interface PublishDeps {
  policy: Policy;
  pypi: PypiIndex;
  catalog: PypiCatalog;
  conda?: CondaIndex;
  source: BlobStore;
  target: BlobStore;
}

const HTML = 'text/html; charset=utf-8';

/** Writes one view's part of the site and remembers every key it wrote, so the rest can go. */
class SiteWriter {
  private readonly wanted = new Set<string>();

  constructor(
    private readonly deps: Pick<PublishDeps, 'source' | 'target'>,
    private readonly report: PublishReport,
  ) {}

  async put(key: string, body: Buffer, contentType = HTML): Promise<void> {
    this.wanted.add(key);
    await this.deps.target.put(key, body, { contentType });
    this.report.pages++;
  }

  /** Writes a document named by its content (a shard) unless the site already has it (same size). */
  async putImmutable(key: string, body: Buffer, contentType: string): Promise<void> {
    this.wanted.add(key);
    const have = await this.deps.target.stat(key);
    if (have?.size === body.length) return;
    await this.deps.target.put(key, body, { contentType });
    this.report.pages++;
  }

  /** Copies a content-addressed object unless the site already has it (same size). */
  async copy(key: string, sha256: string, size: number | undefined): Promise<void> {
    this.wanted.add(key);
    const have = await this.deps.target.stat(key);
    if (have && (size === undefined || have.size === size)) {
      this.report.filesPresent++;
      return;
    }
    await this.deps.target.put(key, await this.deps.source.get(blobKeyForSha256(sha256)), { contentType: 'application/octet-stream' });
    this.report.filesCopied++;
  }

  /** Whatever the view no longer allows leaves the site. */
  async removeUnwanted(prefix: string): Promise<void> {
    for await (const key of this.deps.target.list(prefix)) {
      if (!this.wanted.has(key)) {
        await this.deps.target.delete(key);
        this.report.removed++;
      }
    }
  }
}

/** The page the server renders for a project in this view (files, or PEP 792 quarantined), or undefined for a 404. */
function projectPageOf(pypi: PypiIndex, view: string, name: string) {
  try {
    return pypi.projectPage(view, name, 'html');
  } catch (err) {
    if (err instanceof SafelistError) return undefined; // the server answers 4xx: no page on the site either
    throw err;
  }
}

async function publishPypiView(deps: PublishDeps, view: string, site: SiteWriter): Promise<void> {
  const { pypi, catalog } = deps;
  const prefix = `pypi/${view}`;
  await site.put(`${prefix}/simple/index.html`, pypi.rootPage(view, 'html').body);
  for (const name of [...catalog.projectNames()].sort()) {
    const page = projectPageOf(pypi, view, name);
    if (!page) continue;
    await site.put(`${prefix}/simple/${name}/index.html`, page.body);
    if (page.refused) continue;
    for (const f of catalog.project(name)!.files) {
      if (!f.stored || !pypi.decideFile(f, view).allowed) continue;
      await site.copy(`${prefix}/files/${f.sha256}/${f.filename}`, f.sha256, f.size);
      if (f.metadataStored && f.metadataSha256)
        await site.copy(`${prefix}/files/${f.sha256}/${f.filename}.metadata`, f.metadataSha256, undefined);
    }
  }
  await site.removeUnwanted(prefix);
}

async function publishCondaView(conda: CondaIndex, view: string, site: SiteWriter): Promise<void> {
  const condaPrefix = `conda/${view}`;
  for (const channel of conda.channels) {
    const base = `${condaPrefix}/${channel.name}`;
    await site.put(`${base}/channeldata.json`, conda.channeldata(view, channel.name).body, 'application/json');
    for (const subdir of conda.subdirsOf(channel)) {
      for (const d of condaSubdirDocuments(conda, view, channel.name, subdir)) {
        const key = `${base}/${subdir}/${d.key}`;
        await (d.immutable ? site.putImmutable(key, d.body, d.contentType) : site.put(key, d.body, d.contentType));
      }
      for (const p of conda.allowedPackages(view, channel.name, subdir))
        await site.copy(`${base}/${subdir}/${p.filename}`, p.sha256, p.size);
    }
  }
  await site.removeUnwanted(condaPrefix);
}

export async function publishStatic(deps: PublishDeps, opts: { views?: string[] } = {}): Promise<PublishReport> {
  const views = opts.views ?? deps.policy.viewNames();
  const report: PublishReport = { views, pages: 0, filesCopied: 0, filesPresent: 0, removed: 0 };
  for (const view of views) {
    await publishPypiView(deps, view, new SiteWriter(deps, report));
    if (deps.conda) await publishCondaView(deps.conda, view, new SiteWriter(deps, report));
  }
  return report;
}
