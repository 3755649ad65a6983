// Automatic triage of an exception request, attached to it for the approver: does the package
// (and a matching version) exist in what the sync recorded from upstream; which of its declared
// dependencies the view would still refuse (so one request can cover the set); names that are
// confusingly close to allowed ones (typosquats); the licence; known vulnerabilities when an
// advisory source is configured. The upstream and dependency facts come from the ecosystem's
// own triage role (EcosystemModule); the rest is the same for every ecosystem. Facts only: the
// decision stays with a person.
import { ecosystems, grammars } from '../ecosystems/index.js';
import type { OpenEcosystem } from '../ecosystems/types.js';
import type { Policy } from '../policy/decide.js';
import type { ExceptionRequest } from './service.js';
import type { AdvisoryHit, AdvisoryStore } from './advisories.js';

export interface TriageReport {
  checkedAt: string;
  upstream: { known: boolean; versions: string[]; matching: string[]; note?: string };
  dependencies: { checked: boolean; notAllowed: Array<{ requirement: string; name: string }>; note?: string };
  similarNames: Array<{ name: string; distance: number }>;
  licence: string | null;
  vulnerabilities: { checked: boolean; note?: string; advisories: AdvisoryHit[] };
}

/**
 * Damerau-Levenshtein (optimal string alignment) distance, stopping early above max: three
 * rolling rows, and once a whole row exceeds max no later row can come back under it (the
 * console's search runs this over every name of a 10,000-project catalog).
 */
export function editDistance(a: string, b: string, max = 3): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = new Int32Array(b.length + 1);
  let prev = Int32Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Int32Array(b.length + 1);
  let prevMin = 0;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, before[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    // A transposition reads two rows back, so stop only when both of the last two rows are above max.
    if (rowMin > max && prevMin > max) return max + 1;
    prevMin = rowMin;
    [before, prev, cur] = [prev, cur, before];
  }
  return prev[b.length]!;
}

export function makeTriage(deps: { policy: () => Policy; ecosystems: ReadonlyMap<string, OpenEcosystem>; advisories: AdvisoryStore }) {
  return async function triage(req: ExceptionRequest): Promise<TriageReport> {
    const policy = deps.policy();
    const grammar = grammars[req.ecosystem]!;
    const name = grammar.normalizeName(req.name);
    const report: TriageReport = {
      checkedAt: new Date().toISOString(),
      upstream: { known: false, versions: [], matching: [] },
      dependencies: { checked: false, notAllowed: [] },
      similarNames: [],
      licence: null,
      vulnerabilities: { checked: false, advisories: [] },
    };
    const checkAdvisories = async (versions: string[]) => {
      if ((await deps.advisories.count()) === 0) {
        report.vulnerabilities.note = 'no advisories are imported (advisories.sources); check OSV for this package before approving';
        return;
      }
      report.vulnerabilities.checked = true;
      report.vulnerabilities.advisories = await deps.advisories.hits(req.ecosystem, name, versions);
      if (!versions.length) report.vulnerabilities.note = 'no known version matches the request; nothing to check';
    };
    // Names within edit distance 2 of allowlisted names (not the name itself): typosquats.
    const allowed = new Set(policy.rules.filter((r) => r.ecosystem === req.ecosystem && r.kind === 'allowlist').map((r) => r.name));
    // Each spelling the ecosystem compares (npm: @evil/left-pad against left-pad, distance 0).
    const variants = ecosystems.get(req.ecosystem)?.names.variants ?? ((n: string) => [n]);
    for (const other of allowed) {
      if (other === name) continue;
      const dist = Math.min(...variants(name).flatMap((a) => variants(other).map((b) => editDistance(a, b, 2))));
      if (dist <= 2 && Math.min(name.length, other.length) > 3) report.similarNames.push({ name: other, distance: dist });
    }
    report.similarNames.sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));

    const triage = deps.ecosystems.get(req.ecosystem)?.triage;
    if (!triage) {
      report.upstream.note = `upstream checks for ${req.ecosystem} are not available yet`;
      return report;
    }
    const facts = await triage({ name, versions: req.versions, view: req.view, policy });
    report.upstream = { known: facts.known, versions: facts.versions, matching: facts.matching, ...(facts.note ? { note: facts.note } : {}) };
    await checkAdvisories(facts.known ? facts.matching : (facts.advisoryVersions ?? []));
    if (facts.dependencies) report.dependencies = facts.dependencies;
    if (facts.licence !== undefined) report.licence = facts.licence;
    return report;
  };
}
