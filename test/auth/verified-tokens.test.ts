// The cache of verified Entra tokens: an entry answers only under the key generation it was
// verified with, never past the token's exp or the cache's max age, and the cache stays bounded.
// Through the Authenticator with the local JWKS stub: a token is verified once and then
// remembered; a key rotation published at the JWKS endpoint ends that as soon as the keys are
// re-fetched; Reader app roles become the identity's read views.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { AuthError, Authenticator, type Identity } from '../../src/auth/identity.js';
import { RejectedTokens } from '../../src/auth/rejected-tokens.js';
import { VerifiedTokens } from '../../src/auth/verified-tokens.js';
import { configSchema } from '../../src/ecosystems/index.js';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { until } from '../support/wait.js';

const digest = (t: string) => createHash('sha256').update(t).digest();
const who = (oid: string): Identity => ({
  oid,
  name: oid,
  roles: new Set(),
  approverViews: new Set(),
  readViews: new Set(['team-a']),
  via: 'entra',
});

describe('VerifiedTokens', () => {
  it('answers under the generation it was verified with, until exp or the max age, whichever is first', () => {
    let now = 1_000_000_000_000;
    const cache = new VerifiedTokens({ max: 10, maxAgeMs: 300_000, now: () => now });
    const a = who('oid-a');
    cache.set(digest('token-a'), a, now / 1000 + 60, 1);
    expect(cache.get(digest('token-a'), 1)).toBe(a);
    expect(cache.get(digest('token-a'), 2)).toBeUndefined(); // the keys changed since
    expect(cache.get(digest('token-b'), 1)).toBeUndefined();
    now += 60_001; // past exp
    expect(cache.get(digest('token-a'), 1)).toBeUndefined();

    cache.set(digest('token-long'), a, now / 1000 + 86_400, 1);
    now += 299_000;
    expect(cache.get(digest('token-long'), 1)).toBe(a);
    now += 2_000; // past the max age, long before exp
    expect(cache.get(digest('token-long'), 1)).toBeUndefined();

    cache.set(digest('token-expired'), a, now / 1000 - 1, 1);
    expect(cache.size).toBe(0);
  });

  it('keeps at most `max` tokens, the least recently used going first', () => {
    const cache = new VerifiedTokens({ max: 2, maxAgeMs: 300_000 });
    const exp = Date.now() / 1000 + 3600;
    cache.set(digest('t1'), who('1'), exp, 1);
    cache.set(digest('t2'), who('2'), exp, 1);
    expect(cache.get(digest('t1'), 1)?.oid).toBe('1');
    cache.set(digest('t3'), who('3'), exp, 1);
    expect(cache.size).toBe(2);
    expect(cache.get(digest('t2'), 1)).toBeUndefined();
    expect(cache.get(digest('t1'), 1)?.oid).toBe('1');
  });
});

describe('RejectedTokens', () => {
  it('answers under the generation it was refused with, for the ttl, and keeps at most `max` tokens', () => {
    let now = 1_000_000_000_000;
    const cache = new RejectedTokens({ max: 2, ttlMs: 30_000, now: () => now });
    cache.set(digest('forged'), 'the token is not valid', 1);
    expect(cache.get(digest('forged'), 1)).toBe('the token is not valid');
    expect(cache.get(digest('forged'), 2)).toBeUndefined(); // new keys: checked again
    expect(cache.get(digest('other'), 1)).toBeUndefined();
    now += 30_001;
    expect(cache.get(digest('forged'), 1)).toBeUndefined();
    for (const t of ['f1', 'f2', 'f3']) cache.set(digest(t), t, 1);
    expect(cache.size).toBe(2);
    expect(cache.get(digest('f1'), 1)).toBeUndefined();
    expect(cache.get(digest('f3'), 1)).toBe('f3');
  });
});

describe('Entra tokens through the Authenticator', () => {
  let entra: EntraStub;
  beforeAll(async () => {
    entra = await startEntraStub();
  });
  afterAll(async () => {
    await entra.stop();
  });

  const authenticator = (keys: { jwksRefresh: string }, opts: { verifiedTokens?: number } = {}) => {
    const config = configSchema.parse({
      views: { 'team-a': {}, 'team-b': {} },
      auth: {
        packageRead: 'token',
        unscopedRead: 'none',
        entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri, ...keys },
      },
    });
    return new Authenticator(config.auth, opts);
  };

  it('verifies a token once and remembers it, with the read views of its Reader roles', async () => {
    const auth = authenticator({ jwksRefresh: '10m' });
    const token = await entra.token({ oid: 'oid-ws-a', roles: ['Safelist.Reader.team-a'] });
    const first = await auth.fromToken(token);
    expect(first.readViews).toEqual(new Set(['team-a']));
    expect(auth.rememberedTokens).toBe(1);
    // The same object: answered from the cache, not verified and built again.
    expect(await auth.fromToken(token)).toBe(first);
    const none = await auth.fromToken(await entra.token({ oid: 'oid-req', roles: ['Safelist.Requester'] }));
    expect(none.readViews).toEqual(new Set());
    const admin = await auth.fromToken(await entra.token({ oid: 'oid-admin', roles: ['Safelist.Admin'] }));
    expect(admin.readViews).toBe('*');
    expect(auth.rememberedTokens).toBe(3);
    // A bad token is never remembered (and stays 401).
    await expect(auth.fromToken(await entra.token({ oid: 'oid-x' }, { foreignKey: true }))).rejects.toBeInstanceOf(AuthError);
    expect(auth.rememberedTokens).toBe(3);

    const uncached = authenticator({ jwksRefresh: '10m' }, { verifiedTokens: 0 });
    const a = await uncached.fromToken(token);
    expect(await uncached.fromToken(token)).not.toBe(a);
    expect(uncached.rememberedTokens).toBe(0);
  });

  it('remembers a refusal, but not that of a token not valid yet (it may be soon)', async () => {
    const auth = authenticator({ jwksRefresh: '10m' });
    await auth.fromToken(await entra.token({ oid: 'oid-ws-a' })); // the keys fetched
    const early = await entra.token({ oid: 'oid-early', nbf: Math.floor(Date.now() / 1000) + 3600 });
    await expect(auth.fromToken(early)).rejects.toThrow('the token is not valid yet (nbf); check the clocks or retry shortly');
    expect(auth.refusedTokens).toBe(0);
    const forged = await entra.token({ oid: 'oid-x' }, { foreignKey: true });
    await expect(auth.fromToken(forged)).rejects.toBeInstanceOf(AuthError);
    expect(auth.refusedTokens).toBe(1);
    const checks = auth.jwtVerifications;
    await expect(auth.fromToken(forged)).rejects.toThrow('the token is not valid: ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    await expect(auth.fromToken(early)).rejects.toThrow('not valid yet');
    expect(auth.jwtVerifications - checks).toBe(1); // the early one, checked again
  });

  it('stops answering for a token once a key rotation reaches it through the JWKS endpoint', async () => {
    // Keys due for a refresh at every request, as after auth.entra.jwksRefresh.
    const auth = authenticator({ jwksRefresh: '0ms' });
    const old = await entra.token({ oid: 'oid-ws-a', roles: ['Safelist.Reader.team-a'] });
    expect((await auth.fromToken(old)).oid).toBe('oid-ws-a');
    expect(auth.rememberedTokens).toBe(1);
    await entra.rotate();
    // The remembered answer lasts only until the background refresh brings the new key set.
    await until(
      () =>
        auth.fromToken(old).then(
          () => false,
          (err: unknown) => err instanceof AuthError,
        ),
      'the token signed with the withdrawn key to be refused',
      20_000,
    );
    const fresh = await entra.token({ oid: 'oid-ws-a', roles: ['Safelist.Reader.team-a'] });
    expect((await auth.fromToken(fresh)).oid).toBe('oid-ws-a');
  });
});
