// Forged, expired and misdirected Entra tokens on a package read path over real HTTP, with the
// local JWKS stub: each is refused with a 401 that says why, and replaying one costs no new
// verification (refusals are remembered by the token's sha256); a token whose unverified claims
// already condemn it (another audience, issuer or tenant, expired) is refused before jose looks
// up a key or checks a signature; made-up key ids cannot make Safelist hammer the JWKS endpoint;
// and a good token is still verified and admitted (nothing is accepted unverified).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

describe('refused Entra tokens on the read path', () => {
  let entra: EntraStub;
  let sl: TestSafelist;
  beforeAll(async () => {
    entra = await startEntraStub();
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      extra: {
        auth: {
          packageRead: 'token',
          unscopedRead: 'none',
          entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri },
        },
      },
    });
  });
  afterAll(async () => {
    await sl?.stop();
    await entra?.stop();
  });

  const read = async (token: string) => {
    const res = await fetch(`${sl.url}/pypi/team-a/simple/`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, detail: res.status === 200 ? '' : ((await res.json()) as { detail: string }).detail };
  };
  const verifications = () => sl.runtime.auth.jwtVerifications;
  const reader = { oid: 'oid-ws-a', roles: ['Safelist.Reader.team-a'] };

  it('verifies a replayed forged token once, and refuses every replay the same way', async () => {
    const forged = await entra.token(reader, { foreignKey: true });
    const before = verifications();
    for (let i = 0; i < 10; i++)
      expect(await read(forged)).toEqual({
        status: 401,
        detail: 'package access needs a valid token: the token is not valid: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    expect(verifications() - before).toBe(1);
    expect(sl.runtime.auth.refusedTokens).toBeGreaterThanOrEqual(1);
    // A good token is still verified, once, and admitted.
    const good = await entra.token(reader);
    expect((await read(good)).status).toBe(200);
    expect((await read(good)).status).toBe(200);
    expect(verifications() - before).toBe(2);
  });

  it('refuses what its unverified claims condemn before any key look-up or signature check', async () => {
    const before = verifications();
    const cases: Array<[Promise<string>, string]> = [
      [entra.token({ ...reader, aud: 'api://another-app' }, { foreignKey: true }), 'claim "aud" does not match'],
      [entra.token({ ...reader, iss: 'https://login.example.com/x/v2.0' }, { foreignKey: true }), 'claim "iss" does not match'],
      [entra.token({ ...reader, tid: '00000000-0000-0000-0000-000000000000' }, { foreignKey: true }), 'issued for another tenant'],
      [entra.token({ ...reader, exp: Math.floor(Date.now() / 1000) - 3600 }, { foreignKey: true }), 'the token has expired; get a new one'],
      // Properly signed, but expired: refused as before, only sooner.
      [entra.token({ ...reader, exp: Math.floor(Date.now() / 1000) - 3600 }), 'the token has expired; get a new one'],
    ];
    for (const [token, why] of cases) {
      const r = await read(await token);
      expect(r.status).toBe(401);
      expect(r.detail).toContain(why);
    }
    expect(verifications() - before).toBe(0);
  });

  it('fetches the keys again at most once for any number of made-up key ids', async () => {
    const fetched = entra.keysFetched;
    for (let i = 0; i < 20; i++) {
      const r = await read(await entra.token(reader, { kid: `made-up-${i}` }));
      expect(r).toEqual({ status: 401, detail: 'package access needs a valid token: the token is not valid: ERR_JWKS_NO_MATCHING_KEY' });
    }
    expect(entra.keysFetched - fetched).toBeLessThanOrEqual(1);
  });
});
