// Catalog search for the console: every name known to Safelist per ecosystem (mirrored PyPI
// projects, conda package names, OCI images, and every name a policy rule mentions), matched
// on the ecosystem's normalised name, with close matches (edit distance) for typos. The name
// list is rebuilt only when a catalog or the policy changed. It must never decide anything:
// whether a name is allowed in a view is the page's question to policy/explain.ts.
import { editDistance } from '../exceptions/triage.js';
import type { Runtime } from '../runtime.js';
import { ECOSYSTEMS, type Ecosystem } from '../policy/types.js';

export interface SearchHit {
  ecosystem: Ecosystem;
  name: string;
  /** 0 for a match of the text; the edit distance for a close match. */
  distance: number;
}

type Names = Record<Ecosystem, string[]>;

export class CatalogSearch {
  private cached: { key: string; names: Names } | undefined;

  constructor(private readonly rt: Pick<Runtime, 'policies' | 'pypiCatalog' | 'condaCatalog' | 'ociCatalog'>) {}

  /** What changes when any source of names changes (catalog sizes and serials, the policy fingerprint). */
  private key(): string {
    let conda = 0;
    for (const s of this.rt.condaCatalog.all()) conda += s.serial + s.packages.size;
    return `${this.rt.policies.policy.fingerprint}|${this.rt.pypiCatalog.size}|${conda}|${this.rt.ociCatalog.imageNames().length}`;
  }

  private names(): Names {
    const key = this.key();
    if (this.cached?.key === key) return this.cached.names;
    const policy = this.rt.policies.policy;
    const sets: Record<Ecosystem, Set<string>> = { pypi: new Set(), conda: new Set(), oci: new Set() };
    for (const e of ECOSYSTEMS) for (const n of policy.namesInScope(e)) sets[e].add(n);
    for (const n of this.rt.pypiCatalog.projectNames()) sets.pypi.add(n);
    for (const s of this.rt.condaCatalog.all()) for (const p of s.packages.values()) sets.conda.add(p.name);
    for (const n of this.rt.ociCatalog.imageNames()) sets.oci.add(n);
    const names = { pypi: [...sets.pypi].sort(), conda: [...sets.conda].sort(), oci: [...sets.oci].sort() };
    this.cached = { key, names };
    return names;
  }

  /** Names containing the query (normalised per ecosystem), then close matches when few match. */
  search(query: string, ecosystems: readonly Ecosystem[] = ECOSYSTEMS, limit = 25): SearchHit[] {
    const policy = this.rt.policies.policy;
    const names = this.names();
    const hits: SearchHit[] = [];
    const close: SearchHit[] = [];
    for (const e of ecosystems) {
      const q = policy.normalize(e, query.trim());
      if (!q) continue;
      const counts = charCounts(q);
      for (const name of names[e]) {
        if (name.includes(q)) hits.push({ ecosystem: e, name, distance: 0 });
        else if (q.length > 3 && hits.length < limit && Math.abs(name.length - q.length) <= 2 && bagDistance(counts, q.length, name) <= 2) {
          const d = editDistance(q, name, 2);
          if (d <= 2) close.push({ ecosystem: e, name, distance: d });
        }
      }
    }
    // Exact names first, then shorter names (closer to what was typed), then close matches.
    const exact = (h: SearchHit) => (h.name === policy.normalize(h.ecosystem, query.trim()) ? 0 : 1);
    // Code-point order, not localeCompare: names are ASCII, and ICU collation over thousands of close matches is slow.
    const byName = (a: SearchHit, b: SearchHit) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    hits.sort((a, b) => exact(a) - exact(b) || a.name.length - b.name.length || byName(a, b));
    close.sort((a, b) => a.distance - b.distance || byName(a, b));
    return [...hits, ...close].slice(0, limit);
  }
}

/** Character counts of a text (code points above 127 share one bucket: still a lower bound below). */
function charCounts(s: string): Int16Array {
  const counts = new Int16Array(128);
  for (let i = 0; i < s.length; i++) counts[Math.min(s.charCodeAt(i), 127)]!++;
  return counts;
}

const scratch = new Int16Array(128);

/**
 * The bag distance: a lower bound of the edit distance (with transpositions) computed in one
 * pass, so the full distance is computed only for names that could be close. Hand-written: a
 * dozen lines, where a library would add a dependency for the one loop.
 */
function bagDistance(query: Int16Array, queryLength: number, name: string): number {
  scratch.set(query);
  let extra = 0;
  for (let i = 0; i < name.length; i++) {
    const c = Math.min(name.charCodeAt(i), 127);
    if (scratch[c]! > 0) scratch[c]!--;
    else extra++;
  }
  const missing = queryLength - (name.length - extra);
  return Math.max(extra, missing);
}
