// Entra's JWKS endpoint down, with the real local JWKS server stopped and started again, seen
// through real HTTP routes (the management API and a token-protected package page):
// - within auth.entra.jwksMaxStale the last keys fetched keep valid tokens working;
// - past it, or for a key id never seen while the endpoint is down (a rotated key and a forged
//   kid look the same then), the answer is 503 with Retry-After: "cannot know", never a pass;
// - unsigned (alg "none"), malformed and badly signed tokens are 401 whatever the endpoint's state;
// - never a 500.
import { UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

function config(entra: EntraStub, keys: { jwksRefresh?: string; jwksMaxStale: string }) {
  return {
    auth: {
      entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri, ...keys },
      packageRead: 'token',
    },
    exceptions: { expirySchedule: '' },
  };
}

async function get(sl: TestSafelist, path: string, token: string): Promise<{ status: number; retryAfter: string | null; detail: string }> {
  const res = await fetch(`${sl.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let detail = text;
  try {
    detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), detail };
}

const API = '/api/v1/exceptions';
const PAGE = '/pypi/default/simple/';

async function badTokens(entra: EntraStub): Promise<Record<string, string>> {
  const valid = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Auditor'] });
  const unsigned = new UnsecuredJWT({ oid: 'oid-mallory', tid: entra.tenantId, roles: ['Safelist.Admin'] })
    .setIssuer(entra.issuerV2)
    .setAudience(entra.audience)
    .setExpirationTime('1h')
    .encode();
  return {
    unsigned,
    malformed: 'not.a.jwt',
    garbage: `${Buffer.from('{"alg":"RS256"').toString('base64url')}.e30.AAAA`,
    unsignedWithRs256Header: `${valid.split('.').slice(0, 2).join('.')}.`,
  };
}

describe('Entra JWKS outage', () => {
  let entra: EntraStub;
  beforeAll(async () => {
    entra = await startEntraStub();
  });
  afterAll(async () => {
    await entra.stop();
  });

  describe('within the stale window', () => {
    let sl: TestSafelist;
    beforeAll(async () => {
      // Keys due for a refresh on every request: each request while the endpoint is down
      // meets a failed refresh and must fall back to the last good keys.
      sl = await startTestSafelist({ extra: config(entra, { jwksRefresh: '0ms', jwksMaxStale: '1h' }) });
    });
    afterAll(async () => {
      await entra.up().catch(() => undefined); // already up when the test got that far
      await sl.stop();
    });

    it('keeps valid tokens working, 503s unknown key ids, 401s bad tokens, and works on once it is back', async () => {
      const valid = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Auditor'] });
      const unknownKid = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Auditor'] }, { kid: 'rotated-key-2', foreignKey: true });
      const badSignature = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Auditor'] }, { foreignKey: true });
      expect((await get(sl, API, valid)).status).toBe(200);
      expect((await get(sl, PAGE, valid)).status).toBe(200);
      // Endpoint up: an unknown kid is looked up again, and is simply not there.
      expect((await get(sl, API, unknownKid)).status).toBe(401);

      await entra.down();
      expect((await get(sl, API, valid)).status).toBe(200);
      expect((await get(sl, PAGE, valid)).status).toBe(200);
      const unknown = await get(sl, API, unknownKid);
      expect(unknown.status).toBe(503);
      expect(unknown.retryAfter).toMatch(/^\d+$/);
      expect(unknown.detail).toMatch(/Entra signing keys cannot be fetched/);
      expect((await get(sl, API, badSignature)).status).toBe(401);
      for (const [name, token] of Object.entries(await badTokens(entra))) {
        expect({ name, status: (await get(sl, API, token)).status }).toEqual({ name, status: 401 });
        expect({ name, status: (await get(sl, PAGE, token)).status }).toEqual({ name, status: 401 });
      }

      await entra.up();
      expect((await get(sl, API, valid)).status).toBe(200);
    });
  });

  describe('past the stale window', () => {
    let sl: TestSafelist;
    beforeAll(async () => {
      sl = await startTestSafelist({ extra: config(entra, { jwksMaxStale: '1ms' }) });
    });
    afterAll(async () => {
      await entra.up().catch(() => undefined);
      await sl.stop();
    });

    it('answers 503 with Retry-After for valid tokens, and still 401 for unsigned or malformed ones', async () => {
      const valid = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Auditor'] });
      expect((await get(sl, API, valid)).status).toBe(200);

      await entra.down();
      for (const path of [API, PAGE]) {
        const r = await get(sl, path, valid);
        expect(r.status).toBe(503);
        expect(r.retryAfter).toMatch(/^\d+$/);
        expect(r.detail).toMatch(/jwksMaxStale/);
      }
      const bad = await badTokens(entra);
      for (const name of ['unsigned', 'malformed', 'garbage', 'unsignedWithRs256Header']) {
        expect({ name, status: (await get(sl, API, bad[name]!)).status }).toEqual({ name, status: 401 });
        expect({ name, status: (await get(sl, PAGE, bad[name]!)).status }).toEqual({ name, status: 401 });
      }
    });
  });
});
