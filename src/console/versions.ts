// The per-version view of one package in one workspace view, for the package page: every
// version (PyPI, npm), build (conda) or tag (OCI) Safelist knows, with the decision the read path
// itself makes, as the ecosystem's explain() reports it (the same facts `safelist why` reads),
// and the rule it comes from. It must never decide anything itself: it only asks and labels.
import type { ExplainedVersion, ExplainFacts } from '../ecosystems/types.js';
import { explainName, type Explanation } from '../policy/explain.js';
import type { Decision, Ecosystem } from '../policy/types.js';
import type { Runtime } from '../runtime.js';

export interface VersionRow extends ExplainedVersion {
  status: 'allowed' | 'blocked' | 'held';
}

const statusOf = (d: Decision): VersionRow['status'] => (d.allowed ? 'allowed' : d.code === 'cooldown' ? 'held' : 'blocked');

/**
 * `safelist why` for a name in a view, and every known version of it in the order the ecosystem's
 * catalog keeps them (newest last), from the one explain() the explanation asks of the module.
 */
export function explainWithVersions(
  rt: Pick<Runtime, 'policies' | 'ecosystems'>,
  ecosystem: Ecosystem,
  name: string,
  view: string,
): { explanation: Explanation; rows: VersionRow[] } {
  const source = rt.ecosystems.get(ecosystem);
  let facts: ExplainFacts | undefined;
  const recording = source && { explain: (n: string, v: string) => (facts = source.explain(n, v)) };
  const explanation = explainName(
    { policy: rt.policies.policy, ...(recording ? { source: recording, item: source.module.names.item } : {}) },
    ecosystem,
    name,
    view,
  );
  const rows = (facts?.versions ?? []).map((v) => ({ ...v, status: statusOf(v.decision) }));
  return { explanation, rows };
}

/** `safelist why` for a name in a view, with the open ecosystem's facts (as the API's why asks them). */
export function explainIn(rt: Pick<Runtime, 'policies' | 'ecosystems'>, ecosystem: Ecosystem, name: string, view: string): Explanation {
  const source = rt.ecosystems.get(ecosystem);
  return explainName({ policy: rt.policies.policy, ...(source ? { source, item: source.module.names.item } : {}) }, ecosystem, name, view);
}
