// The per-version view of one package in one workspace view, for the package page: every
// version (PyPI), build (conda) or tag (OCI) Safelist knows, with the decision the read path
// itself makes (PypiIndex.decideFile, CondaIndex.decidePackage, Policy.decide with the digest)
// and the rule it comes from. It must never decide anything itself: it only asks and labels.
import type { Decision, Ecosystem } from '../policy/types.js';
import type { Runtime } from '../runtime.js';

export interface VersionRow {
  /** The version (PyPI), "version build (channel/subdir)" (conda) or the tag (OCI). */
  label: string;
  /** The version or tag alone (for the install command). */
  version: string;
  /** What a request for this one names in the ecosystem's grammar ("==1.2", "1.2 *", the tag). */
  range: string;
  status: 'allowed' | 'blocked' | 'held';
  /** Allowed but no file of it in storage yet (the next sync fetches it). */
  mirrored: boolean;
  decision: Decision;
}

const statusOf = (d: Decision): VersionRow['status'] => (d.allowed ? 'allowed' : d.code === 'cooldown' ? 'held' : 'blocked');

function pypiRows(rt: Runtime, name: string, view: string): VersionRow[] {
  const byVersion = new Map<string, { decision: Decision; stored: boolean }>();
  for (const f of rt.pypiCatalog.project(name)?.files ?? []) {
    const seen = byVersion.get(f.version);
    if (seen) seen.stored ||= f.stored;
    else byVersion.set(f.version, { decision: rt.pypi.decideFile(f, view), stored: f.stored });
  }
  return [...byVersion].map(([version, v]) => ({
    label: version,
    version,
    range: `==${version}`,
    status: statusOf(v.decision),
    mirrored: v.stored,
    decision: v.decision,
  }));
}

function condaRows(rt: Runtime, name: string, view: string): VersionRow[] {
  const rows: VersionRow[] = [];
  for (const channel of rt.conda.channels) {
    for (const p of rt.conda.packagesNamed(channel.name, name)) {
      const d = rt.conda.decidePackage(p, view);
      rows.push({
        label: `${p.version} ${p.build} (${channel.name}/${p.subdir})`,
        version: p.version,
        range: `==${p.version}`,
        status: statusOf(d),
        mirrored: p.stored,
        decision: d,
      });
    }
  }
  return rows;
}

function ociRows(rt: Runtime, name: string, view: string): VersionRow[] {
  const policy = rt.policies.policy;
  return [...(rt.ociCatalog.image(name)?.tags ?? [])].sort().map(([tag, digest]) => {
    const d = policy.decide({ ecosystem: 'oci', name, version: tag, view, digest });
    return { label: tag, version: tag, range: tag, status: statusOf(d), mirrored: true, decision: d };
  });
}

/** Every known version of a (normalised) name, newest last as the catalog keeps them. */
export function versionRows(rt: Runtime, ecosystem: Ecosystem, name: string, view: string): VersionRow[] {
  if (ecosystem === 'pypi') return pypiRows(rt, name, view);
  if (ecosystem === 'conda') return condaRows(rt, name, view);
  return ociRows(rt, name, view);
}
