// The OCI read model for every view: which tags, manifests and blobs of a mirrored repository a
// view may read (the catalog computes and caches the walk per policy and image version), and
// what `why` reports about an image's tags. It must never hand out a digest that no allowed tag
// of the repository reaches in the view.
import type { PolicyStore } from '../../policy/store.js';
import type { ExplainFacts } from '../types.js';
import type { OciCatalog, ViewAccess } from './catalog.js';

export class OciIndex {
  constructor(
    readonly catalog: OciCatalog,
    private readonly policies: PolicyStore,
  ) {}

  /** What the view may read of the repository, under the current policy. */
  access(view: string, name: string): ViewAccess {
    return this.catalog.viewAccess(this.policies.policy, name, view);
  }

  /** Mirrored tags, each decided with the digest it points at (pins included). */
  explain(name: string, view: string): ExplainFacts {
    const policy = this.policies.policy;
    const versions = [...(this.catalog.image(name)?.tags ?? [])].sort().map(([tag, digest]) => ({
      label: tag,
      version: tag,
      range: tag,
      stored: true,
      decision: policy.decide({ ecosystem: this.catalog.ecosystem, name, version: tag, view, digest }),
    }));
    return { consulted: true, versions };
  }
}
