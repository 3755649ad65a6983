// What `safelist why` (CLI and API) reads about an npm name: the versions the catalog knows and
// each one's decision in a view, in the shape policy/explain.ts declares (ExplainNpm). It must
// never decide anything itself: the decision is the read path's own (NpmIndex.decideVersion).
import type { Decision } from '../../policy/types.js';
import type { ExplainNpm } from '../../policy/explain.js';
import type { NpmCatalog, NpmVersion } from './catalog.js';
import type { NpmIndex } from './index.js';

export function npmExplainer(catalog: NpmCatalog, index: NpmIndex): ExplainNpm {
  return {
    versionsOf: (name: string): NpmVersion[] => [...(catalog.package(name)?.versions.values() ?? [])],
    decideVersion: (v: NpmVersion, view: string): Decision => index.decideVersion(v, view),
  };
}
