// The HTTP/1.1 client file bodies come over (src/upstream/http1.ts): answers written byte by
// byte by a raw TCP server (and a real HTTPS one), read the way the sync reads them, into the
// reader's own small buffers. What it must never do: hand on a byte the framing does not
// say belongs to the body, reuse a connection whose answer was not read to its end (or that
// said more than it framed), lose bytes while the reader pauses, or hang on a connection that
// is gone.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosed, http1Get, HttpProtocolError, type Http1Body } from '../../src/upstream/http1.js';
import { selfSignedCert } from '../support/tls.js';

interface RawServer {
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Request heads received, in order. */
  requests: string[];
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A TCP server that calls answer for every request head it reads (keep-alive: several per connection). */
async function rawServer(answer: (socket: net.Socket, index: number, head: string) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state: RawServer = { url: '', connections: 0, requests: [] };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // a client that drops the connection is part of some tests
    let pending = '';
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        state.requests.push(pending.slice(0, end));
        pending = pending.slice(end + 4);
        answer(socket, state.requests.length - 1, state.requests.at(-1)!);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return state;
}

const get = (url: string, headers: Record<string, string> = {}, signal = new AbortController().signal) =>
  http1Get(new URL(url), headers, { signal });

/** Reads a body whole through a buffer of `size` bytes, yielding to the event loop between reads (so bytes pile up). */
async function readThrough(body: Http1Body, size = 1000): Promise<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(size);
  for (;;) {
    const n = await body.read(buf, 0, buf.length);
    if (n === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(buf.subarray(0, n)));
    await new Promise((r) => setImmediate(r));
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('http1Get', () => {
  it('reads a Content-Length body through a small buffer, and sends one request with the given headers', async () => {
    const payload = randomBytes(300_000);
    const server = await rawServer((s) =>
      s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload])),
    );
    const answer = await get(`${server.url}files/w.whl?x=1`, { 'user-agent': 'safelist-sync', authorization: 'Basic c2VjcmV0' });
    expect({ status: answer.status, length: answer.length }).toEqual({ status: 200, length: payload.length });
    expect((await readThrough(answer.body)).equals(payload)).toBe(true);
    expect(await answer.body.read(Buffer.alloc(10), 0, 10)).toBe(0);
    expect(server.requests[0]!.split('\r\n')).toEqual([
      'GET /files/w.whl?x=1 HTTP/1.1',
      `Host: ${new URL(server.url).host}`,
      'user-agent: safelist-sync',
      'authorization: Basic c2VjcmV0',
      'Connection: keep-alive',
    ]);
  });

  it('reads a chunked body (extensions, trailers) and reuses the connection for the next request', async () => {
    const server = await rawServer((s) =>
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n'),
    );
    for (let i = 0; i < 3; i++) {
      const answer = await get(server.url);
      expect(answer.length).toBeUndefined();
      expect((await readThrough(answer.body, 3)).toString()).toBe('hello world');
    }
    expect(server.requests.length).toBe(3);
    expect(server.connections).toBe(1);
  });

  it('skips 1xx answers and answers headers in lower case, repeated ones joined', async () => {
    const server = await rawServer((s) =>
      s.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok'),
    );
    const answer = await get(server.url);
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ 'x-a': '1, 2', 'content-length': '2' });
    expect(answer.headers.link).toBeUndefined();
    expect((await readThrough(answer.body)).toString()).toBe('ok');
  });

  it("reads a body framed by the connection's end, and opens a new connection for the next request", async () => {
    const payload = randomBytes(200_000);
    const server = await rawServer((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), payload])));
    for (let i = 0; i < 2; i++) {
      const answer = await get(server.url);
      expect((await readThrough(answer.body, 7_000)).equals(payload)).toBe(true);
    }
    expect(server.connections).toBe(2);
  });

  it('never reuses a connection that said Connection: close or sent more than its answer framed', async () => {
    const server = await rawServer((s, i) =>
      s.write(
        i === 0
          ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA',
      ),
    );
    for (let i = 0; i < 3; i++) expect((await readThrough((await get(server.url)).body)).toString()).toBe('ok');
    expect(server.connections).toBe(3);
  });

  it('sends the request again on a new connection when the server closed a kept-alive one', async () => {
    // The server answers the first request and closes that connection when the next one arrives on it.
    const server = await rawServer((s, i) => {
      if (i === 1) s.destroy();
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    expect((await readThrough((await get(server.url)).body)).toString()).toBe('ok');
    expect((await readThrough((await get(server.url)).body)).toString()).toBe('ok');
    expect({ connections: server.connections, requests: server.requests.length }).toEqual({ connections: 2, requests: 3 });
  });

  it('fails a body cut off before its length with ConnectionClosed, after handing on what came', async () => {
    const server = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(50)));
    const answer = await get(server.url);
    const buf = Buffer.alloc(200);
    let got = 0;
    const err = await rejection(
      (async () => {
        for (let n = 1; n > 0; got += n) n = await answer.body.read(buf, got, buf.length - got);
      })(),
    );
    expect(err).toBeInstanceOf(ConnectionClosed);
    expect(got).toBe(50);
  });

  it.each([
    ['two different Content-Length values', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok'],
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n'],
    ['a head longer than 64 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`],
  ])('refuses an answer with %s', async (_what, text) => {
    const server = await rawServer((s) => s.write(text));
    expect(await rejection(get(server.url))).toBeInstanceOf(HttpProtocolError);
  });

  it('fails a body whose chunk framing breaks midway with HttpProtocolError', async () => {
    const server = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n'));
    const answer = await get(server.url);
    expect(await rejection(readThrough(answer.body))).toBeInstanceOf(HttpProtocolError);
  });

  it('never sends a header value with CR or LF in it', async () => {
    const server = await rawServer((s) => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
    expect(await rejection(get(server.url, { 'x-a': 'b\r\nx-injected: 1' }))).toBeInstanceOf(TypeError);
    expect(server.requests).toEqual([]);
  });

  it('holds what came while the reader pauses, says so, and loses nothing', async () => {
    const payload = randomBytes(2_000_000);
    const server = await rawServer((s) =>
      s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload])),
    );
    const answer = await get(server.url);
    const start = Date.now();
    while (!answer.body.holding) {
      expect(Date.now() - start, 'bytes arrive and are held').toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await readThrough(answer.body, 64 * 1024)).equals(payload)).toBe(true);
  });

  it("aborts with the signal's reason: before the answer the request rejects, after it the body's read does", async () => {
    const server = await rawServer((s, _i, head) => {
      if (head.startsWith('GET /late ')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    });
    const early = new AbortController();
    const asking = get(server.url, {}, early.signal);
    early.abort(new Error('stop early'));
    expect((await rejection(asking)).message).toBe('stop early');
    const late = new AbortController();
    const answer = await get(`${server.url}late`, {}, late.signal);
    const buf = Buffer.alloc(10);
    expect(await answer.body.read(buf, 0, 10)).toBe(3);
    const reading = answer.body.read(buf, 3, 7);
    late.abort(new Error('stop late'));
    expect((await rejection(reading)).message).toBe('stop late');
  });

  describe('over TLS', () => {
    it('reads a body through a small buffer from a server it trusts, and refuses one it does not', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'safelist-http1-tls-'));
      const defaults = tls.getCACertificates('default');
      try {
        const cert = await selfSignedCert(dir);
        const payload = randomBytes(1_500_000);
        const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end(payload));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        closers.push(() => new Promise((r) => server.close(() => r())));
        const port = (server.address() as net.AddressInfo).port;
        const url = `https://127.0.0.1:${port}/w.whl`;
        const untrusted = await rejection(get(url));
        expect((untrusted as { code?: string }).code).toMatch(/CERT|SELF_SIGNED/);
        // A host name goes out as SNI (and the certificate, made for 127.0.0.1 only, does not match it).
        const names: Array<string | false | null> = [];
        server.on('tlsClientError', (_err, socket) => names.push(socket.servername));
        server.on('secureConnection', (socket) => names.push(socket.servername));
        tls.setDefaultCACertificates([...defaults, cert.cert]);
        const misnamed = await rejection(get(`https://localhost:${port}/w.whl`));
        expect((misnamed as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
        // The server learns of the refused handshake after the client has given up on it.
        for (const start = Date.now(); !names.includes('localhost') && Date.now() - start < 10_000;)
          await new Promise((r) => setTimeout(r, 10));
        expect(names).toContain('localhost');
        const answer = await get(url);
        expect(answer.length).toBe(payload.length);
        expect((await readThrough(answer.body, 10_000)).equals(payload)).toBe(true);
        server.closeAllConnections();
      } finally {
        tls.setDefaultCACertificates(defaults);
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
