// What every ecosystem's read model shares: the documents it rendered for views, cached by size
// (LRU; a document's bytes counted twice, plus its key and entry) and dropped on every policy
// change, the policy of the moment, and the refusal of an unknown view. Each module's index.ts
// extends it with its own documents. It must never keep a document across a policy change: a
// refusal takes effect at once.
import { LRUCache } from 'lru-cache';
import { errors } from '../errors.js';
import type { Policy } from '../policy/decide.js';
import type { PolicyStore } from '../policy/store.js';

/** A document rendered for a view, as the read models cache and serve it. */
export interface ViewDocument {
  body: Buffer;
  etag: string;
  /** gzip of body, made on first request that accepts it (only for larger bodies). */
  gzip?: Buffer;
  /** epoch ms after which the document must be rendered again (Infinity = never by time). */
  validUntil: number;
  /** The fingerprint of the policy it was rendered under, and the catalog entry's serial it shows. */
  policy: string;
  serial: number;
}

export abstract class ViewReadModel<D extends { body: { length: number } }> {
  protected readonly cache: LRUCache<string, D>;

  constructor(
    protected readonly policies: PolicyStore,
    maxBytes: number,
  ) {
    this.cache = new LRUCache({ maxSize: maxBytes, sizeCalculation: (d) => d.body.length * 2 + 200 });
    policies.onChange(() => this.policyChanged());
  }

  /** Drops what was rendered under the old policy; a model that caches more drops that too (calling this first). */
  protected policyChanged(): void {
    this.cache.clear();
  }

  protected get policy(): Policy {
    return this.policies.policy;
  }

  /** A 404 that lists the views when `view` is none of them. */
  requireView(view: string): void {
    if (!this.policy.hasView(view)) throw errors.unknownView(view, this.policy.viewNames());
  }
}
