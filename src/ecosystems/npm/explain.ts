// What `safelist why` (CLI and API) reads about an npm name: the versions the catalog knows,
// whether each is stored, and each one's decision in a view (the ExplainFacts of the seam). It
// must never decide anything itself: the decision is the read path's own (NpmIndex.decideVersion).
import type { ExplainFacts } from '../types.js';
import type { NpmCatalog } from './catalog.js';
import type { NpmIndex } from './index.js';

export function explainNpm(catalog: NpmCatalog, index: NpmIndex, name: string, view: string): ExplainFacts {
  const versions = [...(catalog.package(name)?.versions.values() ?? [])].map((v) => ({
    label: v.version,
    version: v.version,
    range: v.version,
    stored: v.stored,
    decision: index.decideVersion(v, view),
  }));
  return { consulted: true, versions };
}
