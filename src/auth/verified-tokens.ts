// Entra access tokens this process has verified (signature, issuer, audience, tenant, expiry),
// remembered so that a package request with the same bearer token does not pay an RS256 check
// and a JWT parse each time. Bounded (least recently used out) and keyed by the token's sha256.
// It must never hold a token itself, never answer for a token past its exp or older than maxAge,
// and never answer after the signing keys changed: an entry carries the key set's generation
// (jwks.ts) and a new generation (a rotation, a key withdrawn) makes every older entry a miss.
import { LRUCache } from 'lru-cache';
import type { Identity } from './identity.js';

interface Entry {
  who: Identity;
  generation: number;
}

export class VerifiedTokens {
  private readonly lru: LRUCache<string, Entry>;

  private readonly now: () => number;

  /** `now`: the wall clock in ms (tests move it); exp is compared with it. */
  constructor(private readonly opts: { max: number; maxAgeMs: number; now?: () => number }) {
    this.now = opts.now ?? Date.now;
    // ttl checked against the clock on every get (no purge timer, no clock reading cached by a
    // timer: ttlResolution 0): an expired entry is never returned.
    this.lru = new LRUCache<string, Entry>({
      max: opts.max,
      ttl: opts.maxAgeMs,
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now: this.now },
    });
  }

  /** The identity verified for this token digest under the keys of `generation`, if remembered. */
  get(digest: Buffer, generation: number): Identity | undefined {
    const e = this.lru.get(digest.toString('base64'));
    return e && e.generation === generation ? e.who : undefined;
  }

  /** Remembers a verification made with the keys of `generation`, until exp (seconds) or maxAge, whichever is first. */
  set(digest: Buffer, who: Identity, exp: number, generation: number): void {
    const ttl = Math.min(this.opts.maxAgeMs, exp * 1000 - this.now());
    if (ttl >= 1) this.lru.set(digest.toString('base64'), { who, generation }, { ttl: Math.floor(ttl) });
  }

  get size(): number {
    return this.lru.size;
  }
}
