// Static publish of a view's PyPI simple tree: `simple/index.html`, `simple/<project>/index.html`
// and `files/<sha256>/<filename>` (with `.metadata`), Safelist's own relative links. Only what
// the view allows is written: a static site cannot refuse with a reason, so a blocked version is
// left out entirely. It must never copy a file the view's policy refuses.
import type { Policy } from '../../policy/decide.js';
import type { PublishSink } from '../types.js';
import type { PypiCatalog } from './catalog.js';
import type { PypiIndex } from './index.js';

const HTML = 'text/html; charset=utf-8';

export async function publishPypiView(
  index: PypiIndex,
  catalog: PypiCatalog,
  policy: Policy,
  view: string,
  out: PublishSink,
): Promise<void> {
  await out.put('simple/index.html', index.rootPage(view, 'html').body, HTML);
  for (const name of [...catalog.projectNames()].sort()) {
    if (!policy.projectVisible(catalog.ecosystem, name, view)) continue;
    await out.put(`simple/${name}/index.html`, index.projectPage(view, name, 'html').body, HTML);
    for (const f of catalog.project(name)!.files) {
      if (!f.stored || !index.decideFile(f, view).allowed) continue;
      await out.copy(`files/${f.sha256}/${f.filename}`, f.sha256, f.size);
      if (f.metadataStored && f.metadataSha256) await out.copy(`files/${f.sha256}/${f.filename}.metadata`, f.metadataSha256, undefined);
    }
  }
}
