// `safelist allowlist check` for PyPI: every allowed, stored file's Requires-Dist (from the
// core metadata Safelist keeps for PEP 658) must have at least one allowed, stored version in
// the same view. Requirements behind an `extra` are optional and skipped; other environment
// markers cannot be evaluated without the target environment, so those requirements are
// checked and the marker is named in the report.
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import type { Policy } from '../../policy/decide.js';
import type { BlobStore } from '../../storage/types.js';
import type { PypiCatalog, PypiFile } from './catalog.js';
import { pypiGrammar } from './grammar.js';
import type { PypiIndex } from './index.js';
import { parseCoreMetadata } from './metadata.js';
import { normalizeProjectName } from './names.js';

export interface UnmetRequirement {
  view: string;
  project: string;
  version: string;
  requirement: string;
  reason: string;
}

async function readAll(store: BlobStore, sha256: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await store.get(blobKeyForSha256(sha256))) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function checkPypiInstallability(
  index: PypiIndex,
  catalog: PypiCatalog,
  store: BlobStore,
  policy: Policy,
  views = policy.viewNames(),
): Promise<UnmetRequirement[]> {
  const out: UnmetRequirement[] = [];
  const requirementsOf = new Map<string, string[]>();
  for (const view of views) {
    const offered = (name: string): PypiFile[] =>
      (catalog.project(name)?.files ?? []).filter((f) => f.stored && index.decideFile(f, view).allowed);
    const seen = new Set<string>();
    for (const name of [...catalog.projectNames()].sort()) {
      for (const f of offered(name)) {
        if (!f.metadataSha256 || !f.metadataStored) continue;
        let reqs = requirementsOf.get(f.metadataSha256);
        if (!reqs) {
          reqs = parseCoreMetadata(await readAll(store, f.metadataSha256)).requiresDist;
          requirementsOf.set(f.metadataSha256, reqs);
        }
        for (const line of reqs) {
          const key = `${name}\0${f.version}\0${line}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const [req = '', marker] = line.split(';', 2).map((x) => x.trim());
          if (marker && /\bextra\b/.test(marker)) continue;
          const split = pypiGrammar.splitRequirement(req);
          if ('error' in split) {
            out.push({ view, project: name, version: f.version, requirement: line, reason: `cannot read the requirement: ${split.error}` });
            continue;
          }
          const dep = normalizeProjectName(split.name);
          const matcher = pypiGrammar.parseRange(split.range, {});
          if ('error' in matcher) {
            out.push({
              view,
              project: name,
              version: f.version,
              requirement: line,
              reason: `cannot read the requirement: ${matcher.error}`,
            });
            continue;
          }
          if (offered(dep).some((c) => matcher.matches(c.version))) continue;
          const d = policy.decide({ ecosystem: 'pypi', name: dep, version: '0', view });
          const why = d.code === 'not-listed' ? d.reason : `no allowed and mirrored version of ${dep} matches "${split.range || 'any'}"`;
          out.push({ view, project: name, version: f.version, requirement: line, reason: marker ? `${why} (needed when ${marker})` : why });
        }
      }
    }
  }
  return out;
}
