// The per-version view of one package in one workspace view, for the package page: every
// version (PyPI, npm), build (conda) or tag (OCI) Safelist knows, with the decision the read path
// itself makes, as the ecosystem's explain() reports it (the same facts `safelist why` reads),
// and the rule it comes from. It must never decide anything itself: it only asks and labels.
import type { ExplainedVersion, OpenEcosystem } from '../ecosystems/types.js';
import { explainName, type Explanation } from '../policy/explain.js';
import type { Decision, Ecosystem } from '../policy/types.js';
import type { Runtime } from '../runtime.js';

export interface VersionRow extends ExplainedVersion {
  status: 'allowed' | 'blocked' | 'held';
}

const statusOf = (d: Decision): VersionRow['status'] => (d.allowed ? 'allowed' : d.code === 'cooldown' ? 'held' : 'blocked');

/** Every known version of a (normalised) name, in the order the ecosystem's catalog keeps them (newest last). */
export function versionRows(source: OpenEcosystem | undefined, name: string, view: string): VersionRow[] {
  return (source?.explain(name, view).versions ?? []).map((v) => ({ ...v, status: statusOf(v.decision) }));
}

/** `safelist why` for a name in a view, with the open ecosystem's facts (as the API's why asks them). */
export function explainIn(rt: Pick<Runtime, 'policies' | 'ecosystems'>, ecosystem: Ecosystem, name: string, view: string): Explanation {
  const source = rt.ecosystems.get(ecosystem);
  return explainName({ policy: rt.policies.policy, ...(source ? { source, item: source.module.names.item } : {}) }, ecosystem, name, view);
}
