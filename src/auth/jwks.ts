// Entra's token signing keys (a JWKS document), fetched from the configured URL and kept for
// token validation: re-fetched in the background once they are `refreshMs` old, and, while the
// endpoint is unreachable, still used for at most `maxStaleMs` after the last good fetch, so a
// short Entra or network outage does not lock everyone out. Key matching and signature checks
// are jose's (createLocalJWKSet over the last good document). Each different document fetched
// is a new generation: what was verified under an older one (verified-tokens.ts) is stale.
// It must never use a key it did not fetch from that URL, never use keys past the stale bound,
// and never call a token invalid when it only cannot know (then it throws KeysUnavailable: 503).
import type { createLocalJWKSet, JSONWebKeySet, JWTVerifyGetKey } from 'jose';

let jose: Promise<typeof import('jose')> | undefined;

/**
 * jose, imported at the first token to check rather than at start: a server or CLI without
 * Entra ID (auth.entra) never verifies a JWT, and jose is ~1 MiB of heap once loaded.
 */
export function loadJose(): Promise<typeof import('jose')> {
  return (jose ??= import('jose'));
}

/** No usable key set: the endpoint is unreachable and the last good keys are too old (or none). */
export class KeysUnavailable extends Error {
  readonly code = 'JWKS_UNAVAILABLE';
}

export interface RemoteKeySetOptions {
  /** Keys older than this are re-fetched (in the background while they are still usable). */
  refreshMs: number;
  /** How long after the last good fetch the keys stay usable while fetching fails. */
  maxStaleMs: number;
  /** Per fetch. */
  timeoutMs?: number;
  /** Least time between two fetches caused by failures or unknown key ids (protects Entra and us). */
  cooldownMs?: number;
  /** Told about every failed fetch (the old keys stay in use while they may). */
  onFetchError?: (err: Error) => void;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;
interface KeySet {
  keys: LocalSet;
  fetchedAt: number;
  /** The document as fetched: a different one is a new generation. */
  text: string;
  generation: number;
}

export class RemoteKeySet {
  private current: KeySet | undefined;
  private gen = 0;
  private last: { at: number; error: Error | undefined } = { at: -Infinity, error: undefined };
  private inflight: Promise<void> | undefined;
  private readonly timeoutMs: number;
  private readonly cooldownMs: number;

  constructor(
    private readonly url: URL,
    private readonly opts: RemoteKeySetOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
  }

  /** For jose's jwtVerify: the key for a token's header, or KeysUnavailable. */
  readonly getKey: JWTVerifyGetKey = this.keyGetter(() => undefined);

  /** getKey for one verification, telling `used` the generation of the key set its key came from. */
  keyGetter(used: (generation: number) => void): JWTVerifyGetKey {
    return async (header, token) => {
      const set = await this.usableKeys();
      const key = await this.keyFrom(set, header, token);
      used(key.generation);
      return key.key;
    };
  }

  private async keyFrom(
    set: KeySet,
    header: Parameters<LocalSet>[0],
    token: Parameters<LocalSet>[1],
  ): Promise<{ key: Awaited<ReturnType<LocalSet>>; generation: number }> {
    try {
      return { key: await set.keys(header, token), generation: set.generation };
    } catch (err) {
      if (!(err instanceof (await loadJose()).errors.JWKSNoMatchingKey)) throw err;
      // Maybe a key Entra rotated in since the last fetch: ask again (not more than once per
      // cooldown, whatever the kids tokens claim). While the endpoint is down a rotated key and
      // a made-up kid look the same, so the answer is "cannot know" (503), not "invalid" (401).
      if (this.inflight) await this.inflight;
      else if (performance.now() - this.last.at >= this.cooldownMs) await this.refresh();
      if (this.last.error) throw this.unavailable(`the token's key id is not among the keys fetched ${this.ageText()} ago`);
      const now = this.current!;
      return { key: await now.keys(header, token), generation: now.generation };
    }
  }

  /**
   * Without waiting: the generation of keys a verification would use now, starting the background
   * refresh when it is due (as a verification does); undefined when a verification would have to
   * wait for a fetch or fail (no keys yet, keys past maxStale): then the caller verifies in full.
   */
  usableGeneration(): number | undefined {
    if (!this.current) return undefined;
    const now = performance.now();
    const age = now - this.current.fetchedAt;
    if (age > this.opts.maxStaleMs) return undefined;
    const mayFetch = !this.last.error || now - this.last.at >= this.cooldownMs;
    if (age >= this.opts.refreshMs && mayFetch && !this.inflight) void this.refresh(); // never rejects
    return this.current.generation;
  }

  private async usableKeys(): Promise<KeySet> {
    const now = performance.now();
    const age = this.current ? now - this.current.fetchedAt : Infinity;
    // After a failure, wait out the cooldown before the next try; after a success, no need.
    const mayFetch = !this.last.error || now - this.last.at >= this.cooldownMs;
    if (age > this.opts.maxStaleMs) {
      if (mayFetch) await this.refresh();
    } else if (age >= this.opts.refreshMs && mayFetch && !this.inflight) {
      void this.refresh(); // never rejects; failures are recorded and reported
    }
    // Keys are "too old" only when the latest fetch failed: a successful fetch is the truth.
    if (!this.current) throw this.unavailable('no keys were fetched yet');
    if (this.last.error && performance.now() - this.current.fetchedAt > this.opts.maxStaleMs) {
      throw this.unavailable(`the last keys were fetched ${this.ageText()} ago, longer than auth.entra.jwksMaxStale allows`);
    }
    return this.current;
  }

  /** One fetch at a time; resolves when it settled, recording the outcome. */
  private refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys()
      .then(
        ({ keys, text }) => {
          // The same document again keeps its generation: what was verified under it stays good.
          const generation = text === this.current?.text ? this.current.generation : ++this.gen;
          this.current = { keys, fetchedAt: performance.now(), text, generation };
          this.last = { at: performance.now(), error: undefined };
        },
        (err: unknown) => {
          const error = err instanceof Error ? err : new Error(String(err));
          this.last = { at: performance.now(), error };
          this.opts.onFetchError?.(error);
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** The fetched document as a key set, and its text (jose refuses a malformed one with JWKSInvalid: the old keys stay). */
  private async fetchKeys(): Promise<{ keys: LocalSet; text: string }> {
    const { createLocalJWKSet } = await loadJose();
    const res = await fetch(this.url, {
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    const text = await res.text();
    return { keys: createLocalJWKSet(JSON.parse(text) as JSONWebKeySet), text };
  }

  private ageText(): string {
    return this.current ? `${Math.round((performance.now() - this.current.fetchedAt) / 1000)} s` : 'never';
  }

  /** Said to clients: no URL and no cause (those are logged through onFetchError). */
  private unavailable(why: string): KeysUnavailable {
    return new KeysUnavailable(`the Entra signing keys cannot be fetched now and ${why}; retry shortly`);
  }
}
