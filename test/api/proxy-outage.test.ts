// A request path that depends on an outbound call through the egress proxy: Entra ID bearer
// tokens are checked against the JWKS, fetched through network.proxy. With the proxy up the keys
// come through it (its log says so); with the proxy down the answer is 503 with Retry-After
// ("cannot know now"), never a pass, never a 500. The JWKS is asked by name (localhost) so that
// 127.0.0.1, where the tests' own requests go, can be on the no-proxy list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProxy } from '../../src/upstream/proxy.js';
import { startEntraStub, type EntraStub } from '../support/entra.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { startTinyproxy, type Tinyproxy } from '../support/tinyproxy.js';

const PAGE = '/pypi/default/simple/';

describe('Entra JWKS through the egress proxy', () => {
  let entra: EntraStub;
  let proxy: Tinyproxy;
  let sl: TestSafelist | undefined;

  beforeAll(async () => {
    entra = await startEntraStub();
    proxy = await startTinyproxy();
  });

  afterAll(async () => {
    await sl?.stop();
    await useProxy({ noProxy: [] }); // the proxy is process-wide: later files in this worker go direct
    await proxy?.stop();
    await entra?.stop();
  });

  const start = (proxyUrl: string) =>
    startTestSafelist({
      extra: {
        auth: {
          entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri.replace('127.0.0.1', 'localhost') },
          packageRead: 'token',
        },
        exceptions: { expirySchedule: '' },
        network: { proxy: { url: proxyUrl, noProxy: ['127.0.0.1'] } },
      },
    });

  it('fetches the keys through the proxy, and answers 503 with Retry-After once the proxy is gone', async () => {
    const token = await entra.token({ oid: 'oid-audrey', roles: ['Safelist.Reader'] });
    sl = await start(proxy.url);
    const up = await fetch(`${sl.url}${PAGE}`, { headers: { authorization: `Bearer ${token}` } });
    expect(up.status).toBe(200);
    expect(await proxy.requests()).toContain(`GET http://localhost:${new URL(entra.jwksUri).port}/keys HTTP/1.1`);
    await sl.stop();
    sl = undefined;

    const gone = await startTinyproxy();
    await gone.stop();
    sl = await start(gone.url); // a new server: no keys fetched yet
    const down = await fetch(`${sl.url}${PAGE}`, { headers: { authorization: `Bearer ${token}` } });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('30');
    await down.arrayBuffer();
  });
});
