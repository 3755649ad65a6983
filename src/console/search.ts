// Catalog search for the console: every name known to Safelist per ecosystem (what each open
// ecosystem's catalog knows, asked through catalogNames(), and every name a policy rule mentions), matched
// on the ecosystem's normalised name, with close matches (edit distance) for typos. The name
// list is rebuilt only when a catalog or the policy changed. It must never decide anything:
// whether a name is allowed in a view is the page's question to policy/explain.ts.
import { editDistance } from '../exceptions/triage.js';
import type { OpenEcosystem } from '../ecosystems/types.js';
import type { Ecosystem } from '../policy/types.js';
import type { Runtime } from '../runtime.js';

export interface SearchHit {
  ecosystem: Ecosystem;
  name: string;
  /** 0 for a match of the text; the edit distance for a close match. */
  distance: number;
}

type Names = Map<Ecosystem, string[]>;

export class CatalogSearch {
  private cached: { key: string; names: Names } | undefined;
  /** Bumped by every catalog change (each open ecosystem's catalog.onChange). */
  private catalogSerial = 0;

  constructor(private readonly rt: Pick<Runtime, 'policies' | 'ecosystems'>) {
    // One search per console app, living as long as the runtime's catalogs: the listeners go with them.
    for (const e of rt.ecosystems.values()) e.catalog.onChange(() => this.catalogSerial++);
  }

  /** Every ecosystem's id, in registry order (the default scope of a search). */
  get ecosystemIds(): Ecosystem[] {
    return [...this.rt.ecosystems.keys()];
  }

  private names(): Names {
    const key = `${this.rt.policies.policy.fingerprint}|${this.catalogSerial}`;
    if (this.cached?.key === key) return this.cached.names;
    const names: Names = new Map();
    for (const e of this.rt.ecosystems.values()) names.set(e.module.id, namesOf(e, this.rt.policies.policy));
    this.cached = { key, names };
    return names;
  }

  /** Names containing the query (normalised per ecosystem), then close matches when few match. */
  search(query: string, ecosystems: readonly Ecosystem[] = this.ecosystemIds, limit = 25): SearchHit[] {
    const policy = this.rt.policies.policy;
    const names = this.names();
    const hits: SearchHit[] = [];
    const close: SearchHit[] = [];
    for (const e of ecosystems) {
      const q = policy.normalize(e, query.trim());
      if (!q) continue;
      const counts = charCounts(q);
      for (const name of names.get(e) ?? []) {
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

/** The names a policy rule mentions and the names the catalog knows, sorted once. */
function namesOf(e: OpenEcosystem, policy: Runtime['policies']['policy']): string[] {
  const set = new Set<string>(policy.namesInScope(e.module.id));
  for (const n of e.catalogNames()) set.add(n);
  return [...set].sort();
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
