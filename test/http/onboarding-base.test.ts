// The onboarding snippets' base URL is never the caller's Host header: with server.publicUrl
// unset, a request carrying `Host: evil.example` must not get a pip.conf that points at
// evil.example. The base is server.publicUrl, else the address the server listens on; a
// wildcard listen address gets a 409 that tells the admin to set server.publicUrl.
import { afterEach, describe, expect, it } from 'vitest';
import { sendRaw } from '../support/raw-http.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

async function configWithHost(sl: TestSafelist, host: string) {
  const port = Number(new URL(sl.url).port);
  const a = await sendRaw(
    port,
    Buffer.from(`GET /api/v1/workspaces/default/config HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  return { status: a.status, text: a.body.toString('utf8'), json: JSON.parse(a.body.toString('utf8')) as Record<string, string> };
}

describe('workspace onboarding base URL', () => {
  let sl: TestSafelist | undefined;
  afterEach(async () => {
    await sl?.stop();
    sl = undefined;
  });

  it('uses the listening address, not the Host header, when server.publicUrl is unset', async () => {
    sl = await startTestSafelist();
    const r = await configWithHost(sl, 'evil.example');
    expect(r.status).toBe(200);
    expect(r.json.base).toBe(sl.url);
    expect(r.text).not.toContain('evil.example');
    expect(r.json.pipConf).toContain(`index-url = ${sl.url}/pypi/default/simple/`);
  });

  it('an empty or absurd Host header changes nothing', async () => {
    sl = await startTestSafelist();
    for (const host of ['', 'a b', '[::1', 'x'.repeat(300)]) {
      const r = await configWithHost(sl, host);
      expect(r.status, host).toBe(200);
      expect(r.json.base).toBe(sl.url);
    }
  });

  it('uses server.publicUrl whenever it is set', async () => {
    sl = await startTestSafelist({
      extra: { server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl: 'https://safelist.corp.example' } },
    });
    const r = await configWithHost(sl, 'evil.example');
    expect(r.status).toBe(200);
    expect(r.json.base).toBe('https://safelist.corp.example');
    expect(r.text).not.toContain('evil.example');
  });

  it('listening on every address without server.publicUrl: 409 telling the admin to set it', async () => {
    sl = await startTestSafelist({ extra: { server: { host: '0.0.0.0', port: 0, logLevel: 'warn' } } });
    const r = await configWithHost(sl, 'evil.example');
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('PUBLIC_URL_UNSET');
    expect(r.json.detail).toContain('server.publicUrl');
    expect(r.text).not.toContain('evil.example');
  });
});
