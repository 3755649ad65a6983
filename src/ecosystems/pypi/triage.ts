// What triage of a PyPI exception request learns from the catalog the sync keeps: the versions
// upstream has, those the request matches, and the declared dependencies (from the stored core
// metadata of the newest matching version) that some view in question would still refuse, plus
// the licence. Facts only; it must never decide the request.
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import type { BlobStore } from '../../storage/types.js';
import type { TriageFacts, TriageQuery } from '../types.js';
import type { PypiCatalog, PypiFile } from './catalog.js';
import { pypiGrammar } from './grammar.js';
import { parseCoreMetadata } from './metadata.js';
import { normalizeProjectName } from './names.js';

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

export async function triagePypi(catalog: PypiCatalog, store: BlobStore, q: TriageQuery): Promise<TriageFacts> {
  const project = catalog.project(q.name);
  if (!project) {
    const exact = /^===?\s*([^,*\s]+)$/.exec(q.versions.trim())?.[1];
    return {
      known: false,
      versions: [],
      matching: [],
      note: 'the sync has not seen this project upstream (it syncs only allowlisted names); approval makes the next sync look for it',
      advisoryVersions: exact ? [exact] : [],
    };
  }
  const matcher = pypiGrammar.parseRange(q.versions, {});
  const versions = [...new Set(project.files.map((f) => f.version))];
  const matching = 'error' in matcher ? [] : versions.filter((v) => matcher.matches(v));
  const facts: TriageFacts = { known: true, versions, matching, dependencies: { checked: false, notAllowed: [] } };
  // Dependencies of the newest matching version, from its stored core metadata.
  const newest = matching[matching.length - 1];
  const file: PypiFile | undefined = project.files.filter((f) => f.version === newest && f.metadataStored && f.metadataSha256).pop();
  if (!file) {
    facts.dependencies!.note = 'no stored core metadata for a matching version; dependencies not checked';
    return facts;
  }
  try {
    const meta = parseCoreMetadata(await readAll(store, blobKeyForSha256(file.metadataSha256!)));
    facts.licence = meta.license ?? null;
    facts.dependencies!.checked = true;
    const views = q.view === '*' ? q.policy.viewNames() : [q.view];
    for (const r of meta.requiresDist) {
      if (/;\s*.*extra\s*==/.test(r)) continue; // optional extras are not installed by default
      const dep = requirementName(r);
      if (!dep) continue;
      if (views.some((v) => !q.policy.projectVisible(catalog.ecosystem, dep, v)))
        facts.dependencies!.notAllowed.push({ requirement: r, name: dep });
    }
  } catch (err) {
    facts.dependencies!.note = `core metadata could not be read: ${(err as Error).message}`;
  }
  return facts;
}
