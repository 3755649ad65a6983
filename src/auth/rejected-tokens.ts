// Entra tokens this process refused (a signature that does not verify, another issuer, audience
// or tenant, expired, a key id no fetched key has), remembered by their sha256 for a short while so
// that replaying a forged or stale token is refused with one look-up instead of a JWT parse and an
// RS256 check each time. Bounded (least recently used out) and kept apart from the verified tokens
// (verified-tokens.ts), so a flood of made-up tokens can push out only other made-up tokens.
// It must never hold a token itself, never remember a "cannot check now" (the keys unreachable:
// 503) nor a refusal time can lift (a token not valid yet), and never answer after the signing
// keys changed: an entry carries the key set's generation (jwks.ts), and under a new generation
// (a key rotated in) the token is verified again.
import { LRUCache } from 'lru-cache';

interface Entry {
  /** What the refusal said (the 401's message). */
  reason: string;
  generation: number;
}

export class RejectedTokens {
  private readonly lru: LRUCache<string, Entry>;

  /** `now`: the clock in ms (tests move it). */
  constructor(opts: { max: number; ttlMs: number; now?: () => number }) {
    // As in verified-tokens.ts: the ttl is checked against the clock on every get, no purge timer.
    this.lru = new LRUCache<string, Entry>({
      max: opts.max,
      ttl: opts.ttlMs,
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now: opts.now ?? Date.now },
    });
  }

  /** Why this token digest was refused under the keys of `generation`, if remembered. */
  get(digest: Buffer, generation: number): string | undefined {
    const e = this.lru.get(digest.toString('base64'));
    return e && e.generation === generation ? e.reason : undefined;
  }

  /** Remembers a refusal made with the keys of `generation` for the ttl. */
  set(digest: Buffer, reason: string, generation: number): void {
    this.lru.set(digest.toString('base64'), { reason, generation });
  }

  get size(): number {
    return this.lru.size;
  }
}
