// Automatic triage of an exception request, attached to it for the approver: does the package
// (and a matching version) exist in what the sync recorded from upstream; which of its declared
// dependencies the view would still refuse (so one request can cover the set); names that are
// confusingly close to allowed ones (typosquats); the licence; known vulnerabilities when an
// advisory source is configured. Facts only: the decision stays with a person.
import { parseCoreMetadata } from '../ecosystems/pypi/metadata.js';
import type { PypiCatalog, PypiFile } from '../ecosystems/pypi/catalog.js';
import { normalizeProjectName } from '../ecosystems/pypi/names.js';
import { blobKeyForSha256 } from '../catalog/blob-keys.js';
import { grammars } from '../ecosystems/grammars.js';
import type { Policy } from '../policy/decide.js';
import type { BlobStore } from '../storage/types.js';
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

async function readAll(store: BlobStore, key: string, max = 4 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await store.get(key)) {
    n += (c as Buffer).length;
    if (n > max) throw new Error('metadata larger than 4 MiB');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The requirement's project name (PEP 508: the name comes first). */
function requirementName(req: string): string | undefined {
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req);
  return m ? normalizeProjectName(m[1]!) : undefined;
}

export function makeTriage(deps: { policy: () => Policy; pypi: PypiCatalog; store: BlobStore; advisories: AdvisoryStore }) {
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
    for (const other of allowed) {
      if (other === name) continue;
      const dist = editDistance(name, other, 2);
      if (dist <= 2 && Math.min(name.length, other.length) > 3) report.similarNames.push({ name: other, distance: dist });
    }
    report.similarNames.sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));

    if (req.ecosystem !== 'pypi') {
      report.upstream.note = `upstream checks for ${req.ecosystem} are not available yet`;
      return report;
    }
    const matcher = grammar.parseRange(req.versions, {});
    const project = deps.pypi.project(name);
    if (!project) {
      report.upstream.note = 'the sync has not seen this project upstream (it syncs only allowlisted names); approval makes the next sync look for it';
      const exact = /^===?\s*([^,*\s]+)$/.exec(req.versions.trim())?.[1];
      await checkAdvisories(exact ? [exact] : []);
      return report;
    }
    report.upstream.known = true;
    report.upstream.versions = [...new Set(project.files.map((f) => f.version))];
    report.upstream.matching = 'error' in matcher ? [] : report.upstream.versions.filter((v) => matcher.matches(v));
    await checkAdvisories(report.upstream.matching);
    // Dependencies of the newest matching version, from its stored core metadata.
    const newest = report.upstream.matching[report.upstream.matching.length - 1];
    const file: PypiFile | undefined = project.files.filter((f) => f.version === newest && f.metadataStored && f.metadataSha256).pop();
    if (!file) {
      report.dependencies.note = 'no stored core metadata for a matching version; dependencies not checked';
      return report;
    }
    try {
      const meta = parseCoreMetadata(await readAll(deps.store, blobKeyForSha256(file.metadataSha256!)));
      report.licence = meta.license ?? null;
      report.dependencies.checked = true;
      const views = req.view === '*' ? policy.viewNames() : [req.view];
      for (const r of meta.requiresDist) {
        if (/;\s*.*extra\s*==/.test(r)) continue; // optional extras are not installed by default
        const dep = requirementName(r);
        if (!dep) continue;
        if (views.some((v) => !policy.projectVisible('pypi', dep, v))) report.dependencies.notAllowed.push({ requirement: r, name: dep });
      }
    } catch (err) {
      report.dependencies.note = `core metadata could not be read: ${(err as Error).message}`;
    }
    return report;
  };
}
