// Static publish of a view's PyPI simple tree: `simple/index.html`, `simple/<project>/index.html`
// and `files/<sha256>/<filename>` (with `.metadata`), Safelist's own relative links. Only what
// the view allows is written: a static site cannot refuse a file with a reason, so a blocked
// version is left out entirely; a project the view refuses as a whole gets the page the server
// renders, PEP 792 "quarantined" with the reason and no file. It must never copy a file the
// view's policy refuses.
import { SafelistError } from '../../errors.js';
import type { PublishSink } from '../types.js';
import type { PypiCatalog } from './catalog.js';
import type { PypiIndex } from './index.js';

const HTML = 'text/html; charset=utf-8';

export async function publishPypiView(index: PypiIndex, catalog: PypiCatalog, view: string, out: PublishSink): Promise<void> {
  await out.put('simple/index.html', index.rootPage(view, 'html').body, HTML);
  for (const name of [...catalog.projectNames()].sort()) {
    const page = projectPageOf(index, view, name);
    if (!page) continue;
    await out.put(`simple/${name}/index.html`, page.body, HTML);
    if (page.refused) continue;
    for (const f of catalog.project(name)!.files) {
      if (!f.stored || !index.decideFile(f, view).allowed) continue;
      await out.copy(`files/${f.sha256}/${f.filename}`, f.sha256, f.size);
      if (f.metadataStored && f.metadataSha256) await out.copy(`files/${f.sha256}/${f.filename}.metadata`, f.metadataSha256, undefined);
    }
  }
}

/** The page the server renders for a project in this view (files, or PEP 792 quarantined), or undefined for a 404. */
function projectPageOf(index: PypiIndex, view: string, name: string) {
  try {
    return index.projectPage(view, name, 'html');
  } catch (err) {
    if (err instanceof SafelistError) return undefined; // the server answers 4xx: no page on the site either
    throw err;
  }
}
