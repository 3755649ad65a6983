// Every upstream call through a real egress proxy (tinyproxy): file bodies over our HTTP/1.1
// client (absolute-form GET for http://, TLS with the upstream's SNI and certificate inside a
// CONNECT tunnel for https://, the tunnel kept alive) and fetch through undici's ProxyAgent.
// tinyproxy's log proves the bytes went through it, or, for no-proxy hosts, that they did not.
// Proxy credentials work, a wrong password is a clear DENIED naming the proxy and never the
// password, and a stopped proxy is a TRANSIENT error naming it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { headFile, openStream } from '../../src/upstream/http.js';
import { http1Get } from '../../src/upstream/http1.js';
import { useProxy } from '../../src/upstream/proxy.js';
import { TRANSIENT, UPSTREAM, UpstreamError } from '../../src/upstream/types.js';
import { startNginx, type NginxServer } from '../support/nginx-upstream.js';
import { startTinyproxy, type Tinyproxy } from '../support/tinyproxy.js';
import { selfSignedCert } from '../support/tls.js';

const FILE = randomBytes(3 * 1024 * 1024 + 17);
const SHA256 = createHash('sha256').update(FILE).digest('hex');

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const download = async (url: string) =>
  readAll((await openStream('up', url, { headers: {}, timeoutMs: 20_000, what: 'file big.bin', sha256: SHA256 })).body);

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

describe('outbound calls through an egress proxy (tinyproxy)', () => {
  let dir: string;
  let nginx: NginxServer;
  let https: HttpsServer;
  let httpsUrl: string;
  let proxy: Tinyproxy;
  let authProxy: Tinyproxy;
  const defaults = tls.getCACertificates('default');
  let trusted: string[];
  let cert: { cert: string; key: string };
  /** What the HTTPS upstream saw: TLS connections, the SNI of each, requests. */
  const seen = { connections: 0, servernames: [] as Array<string | false | null>, requests: 0 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-proxy-'));
    await mkdir(join(dir, 'www'));
    await writeFile(join(dir, 'www', 'big.bin'), FILE);
    nginx = await startNginx({ root: join(dir, 'www') });
    cert = await selfSignedCert(dir, ['localhost']);
    https = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
      seen.requests++;
      res.writeHead(200, { 'content-length': FILE.length });
      res.end(FILE);
    });
    https.on('secureConnection', (socket: tls.TLSSocket) => {
      seen.connections++;
      seen.servernames.push(socket.servername);
    });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    // By name: the tunnel's TLS must send SNI and check the certificate against "localhost".
    httpsUrl = `https://localhost:${(https.address() as AddressInfo).port}/big.bin`;
    trusted = [...defaults, cert.cert];
    tls.setDefaultCACertificates(trusted);
    proxy = await startTinyproxy();
    authProxy = await startTinyproxy({ user: 'alice', password: 's3cret-pw' });
  }, 60_000);

  afterEach(async () => {
    await useProxy({ noProxy: [] });
  });

  afterAll(async () => {
    tls.setDefaultCACertificates(defaults);
    https?.closeAllConnections();
    https?.close();
    await proxy?.stop();
    await authProxy?.stop();
    await nginx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('GETs an http:// file through the proxy in absolute form', async () => {
    await useProxy({ url: proxy.url, noProxy: [] });
    expect((await download(`${nginx.url}big.bin`)).equals(FILE)).toBe(true);
    expect(await proxy.requests()).toContain(`GET ${nginx.url}big.bin HTTP/1.1`);
  });

  it('GETs an https:// file inside a CONNECT tunnel, with the upstream SNI and certificate, and keeps the tunnel alive', async () => {
    await useProxy({ url: proxy.url, noProxy: [] });
    const before = { ...seen, servernames: [...seen.servernames] };
    const connects = (await proxy.requests()).length;
    expect((await download(httpsUrl)).equals(FILE)).toBe(true);
    expect((await download(httpsUrl)).equals(FILE)).toBe(true);
    expect(seen.requests - before.requests).toBe(2);
    expect(seen.connections - before.connections).toBe(1); // the second GET reused the tunnel
    expect(seen.servernames.slice(before.servernames.length)).toEqual(['localhost']);
    const port = new URL(httpsUrl).port;
    expect((await proxy.requests()).slice(connects)).toEqual([`CONNECT localhost:${port} HTTP/1.1`]);
  });

  it('loses no byte inside the tunnel while a slow reader keeps reading paused', async () => {
    await useProxy({ url: proxy.url, noProxy: [] });
    const answer = await http1Get(new URL(httpsUrl), {}, { signal: new AbortController().signal });
    expect(answer.length).toBe(FILE.length);
    const got = Buffer.alloc(FILE.length + 1); // room for one more byte: the body must not have it
    let at = 0;
    for (let n = -1; n !== 0; at += n) {
      n = await answer.body.read(got, at, Math.min(1000, got.length - at));
      // Now and then the reader is away for a moment: the connection pauses and keeps what came.
      if (at % 200_000 < 1000) await new Promise((r) => setImmediate(r));
    }
    expect(at).toBe(FILE.length);
    expect(got.subarray(0, at).equals(FILE)).toBe(true);
  });

  it('refuses a certificate the upstream cannot prove inside the tunnel', async () => {
    await useProxy({ url: proxy.url, noProxy: [] });
    tls.setDefaultCACertificates(defaults);
    const before = (await proxy.requests()).length;
    try {
      const err = await failure(download(httpsUrl.replace('://localhost:', '://127.0.0.1:').replace('big.bin', 'other.bin')));
      expect((await proxy.requests()).slice(before)).toEqual([`CONNECT 127.0.0.1:${new URL(httpsUrl).port} HTTP/1.1`]);
      expect(err.code).toBe(UPSTREAM.UNAVAILABLE);
      expect(err.message).toMatch(/TLS error: .*(self-signed|SELF_SIGNED)/);
      expect(err.message).toContain(`through proxy http://127.0.0.1:${proxy.port}`);
    } finally {
      tls.setDefaultCACertificates(trusted);
    }
  });

  it('sends fetch (index pages, HEAD) through the proxy as well', async () => {
    await useProxy({ url: proxy.url, noProxy: [] });
    const before = (await proxy.requests()).length;
    expect(await headFile('up', `${nginx.url}big.bin`, { headers: {}, timeoutMs: 10_000, what: 'file big.bin' })).toEqual({
      size: FILE.length,
    });
    const res = await fetch(httpsUrl);
    expect(Buffer.from(await res.arrayBuffer()).equals(FILE)).toBe(true);
    const through = (await proxy.requests()).slice(before).join('\n');
    expect(through).toContain(`HEAD ${nginx.url}big.bin HTTP/1.1`);
    expect(through).toContain(`CONNECT localhost:${new URL(httpsUrl).port}`);
  });

  it('goes direct to no-proxy hosts (CIDRs and names), for file bodies and fetch alike', async () => {
    await useProxy({ url: proxy.url, noProxy: ['127.0.0.0/8', 'localhost'] });
    const before = (await proxy.requests()).length;
    expect((await download(`${nginx.url}big.bin`)).equals(FILE)).toBe(true);
    expect((await download(httpsUrl)).equals(FILE)).toBe(true);
    expect((await fetch(`${nginx.url}big.bin`, { method: 'HEAD' })).status).toBe(200);
    expect((await proxy.requests()).length).toBe(before);
  });

  it('authenticates to the proxy with the URL user and password', async () => {
    await useProxy({ url: authProxy.url, noProxy: [] });
    expect((await download(httpsUrl)).equals(FILE)).toBe(true);
    expect((await download(`${nginx.url}big.bin`)).equals(FILE)).toBe(true);
    expect((await fetch(`${nginx.url}big.bin`, { method: 'HEAD' })).status).toBe(200);
    expect(await authProxy.requests()).toContain(`GET ${nginx.url}big.bin HTTP/1.1`);
  });

  it('says the proxy refused a wrong password (DENIED), naming the proxy and never the password', async () => {
    const wrong = authProxy.url.replace('s3cret-pw', 'wrong-pw');
    await useProxy({ url: wrong, noProxy: [] });
    const tunnel = await failure(download(httpsUrl));
    expect(tunnel.code).toBe(UPSTREAM.DENIED);
    expect(tunnel.message).toContain(
      `proxy http://127.0.0.1:${authProxy.port} refused CONNECT localhost:${new URL(httpsUrl).port}: HTTP 401`,
    );
    expect(tunnel.message).toContain('check the user and password in network.proxy.url');
    const viaFetch = await failure(headFile('up', httpsUrl, { headers: {}, timeoutMs: 10_000, what: 'file big.bin' }));
    expect(viaFetch.code).toBe(UPSTREAM.DENIED);
    expect(viaFetch.message).toContain(`proxy http://127.0.0.1:${authProxy.port} refused the tunnel to localhost:`);
    const plain = await failure(download(`${nginx.url}big.bin`));
    expect(plain.code).toBe(UPSTREAM.DENIED);
    expect(plain.message).toContain(`(through proxy http://127.0.0.1:${authProxy.port})`);
    const plainFetch = await failure(headFile('up', `${nginx.url}big.bin`, { headers: {}, timeoutMs: 10_000, what: 'file big.bin' }));
    expect(plainFetch.code).toBe(UPSTREAM.DENIED);
    expect(plainFetch.message).toContain(`(through proxy http://127.0.0.1:${authProxy.port})`);
    for (const err of [tunnel, viaFetch, plain, plainFetch]) expect(err.message).not.toMatch(/wrong-pw|alice/);
  });

  it('speaks TLS to an https:// proxy (TLS to the upstream inside it), for file bodies and fetch', async () => {
    // TLS in front of tinyproxy, as a TLS-terminating load balancer before a proxy would be.
    const front = tls.createServer({ cert: cert.cert, key: cert.key }, (client) => {
      const back = net.connect(proxy.port, '127.0.0.1');
      client.pipe(back).pipe(client);
      client.on('error', () => back.destroy());
      back.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      await useProxy({ url: `https://localhost:${(front.address() as AddressInfo).port}`, noProxy: [] });
      const before = (await proxy.requests()).length;
      expect((await download(httpsUrl)).equals(FILE)).toBe(true);
      expect((await download(`${nginx.url}big.bin`)).equals(FILE)).toBe(true);
      expect((await fetch(httpsUrl, { method: 'HEAD' })).status).toBe(200);
      const through = (await proxy.requests()).slice(before);
      expect(through).toContain(`CONNECT localhost:${new URL(httpsUrl).port} HTTP/1.1`);
      expect(through).toContain(`GET ${nginx.url}big.bin HTTP/1.1`);
      expect(through.length).toBe(3);
    } finally {
      await useProxy({ noProxy: [] });
      await new Promise((r) => front.close(r));
    }
  });

  it('tells a refused CONNECT by its status: 407 and 403 DENIED (fix the configuration), a failed one UNAVAILABLE (try again)', async () => {
    const port = new URL(httpsUrl).port;
    await useProxy({ url: authProxy.url.replace(/\/\/[^@]*@/, '//'), noProxy: [] });
    const unauthenticated = await failure(download(httpsUrl));
    expect(unauthenticated.code).toBe(UPSTREAM.DENIED);
    expect(unauthenticated.message).toContain(`proxy http://127.0.0.1:${authProxy.port} refused CONNECT localhost:${port}: HTTP 407`);
    const strict = await startTinyproxy({ extra: ['ConnectPort 443'] });
    try {
      await useProxy({ url: strict.url, noProxy: [] });
      const forbidden = await failure(download(httpsUrl));
      expect(forbidden.code).toBe(UPSTREAM.DENIED);
      expect(forbidden.message).toContain(`proxy http://127.0.0.1:${strict.port} refused CONNECT localhost:${port}: HTTP 403`);
      expect(forbidden.message).toContain('list the host in network.proxy.noProxy');
    } finally {
      await strict.stop();
    }
    await useProxy({ url: proxy.url, noProxy: [] });
    const closed = await failure(download('https://localhost:1/big.bin'));
    expect(TRANSIENT.has(closed.code)).toBe(true);
    expect(closed.message).toMatch(new RegExp(`proxy http://127\\.0\\.0\\.1:${proxy.port} refused CONNECT localhost:1: HTTP 5\\d\\d`));
  });

  it('fails TRANSIENT, naming the proxy, when the proxy is down', async () => {
    const gone = await startTinyproxy();
    await gone.stop();
    await useProxy({ url: gone.url, noProxy: [] });
    for (const p of [
      download(httpsUrl),
      download(`${nginx.url}big.bin`),
      headFile('up', httpsUrl, { headers: {}, timeoutMs: 10_000, what: 'x' }),
    ]) {
      const err = await failure(p);
      expect(TRANSIENT.has(err.code)).toBe(true);
      expect(err.message).toContain(`through proxy http://127.0.0.1:${gone.port}`);
      expect(err.message).toContain(`connection refused (ECONNREFUSED 127.0.0.1:${gone.port})`);
    }
  });
});
