// File bodies come over src/upstream/file-get.ts (HTTP/1.1 into reused buffers, http1.ts)
// instead of fetch or node:http. What fetch did for us and this client must still do: drop
// credentials on a redirect to another origin (keep them on the same origin), undo a
// Content-Encoding, refuse redirect loops and other schemes as the upstream's bad answer, and end
// a body that stalls midway with TIMEOUT (never a hang), but never while it is our reader that
// is slow. Read as a stream or into the reader's buffers, a body gets the same checks. Real
// servers on 127.0.0.1: two ports are two origins.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openStream } from '../../src/upstream/http.js';
import type { ByteSource } from '../../src/storage/types.js';
import { UPSTREAM, UpstreamError } from '../../src/upstream/types.js';

type Handler = (path: string, headers: IncomingHttpHeaders, res: ServerResponse) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<string> {
  const srv = createServer((req, res) => handler(req.url ?? '/', req.headers, res));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads a ByteSource whole through a 10,000-byte buffer. */
async function readInto(source: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(10_000);
  for (let n = await source.readInto(buf, 0, buf.length); n > 0; n = await source.readInto(buf, 0, buf.length)) {
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(parts);
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const PAYLOAD = Buffer.from('wheel bytes '.repeat(1000));
const open = (url: string, extra: { sha256?: string; timeoutMs?: number } = {}) =>
  openStream('up', url, { headers: { authorization: 'Basic c2VjcmV0', 'user-agent': 't' }, timeoutMs: 30_000, what: 'w.whl', ...extra });

describe('openStream over HTTP/1.1 (file-get.ts)', () => {
  it('keeps credentials on a same-origin redirect and drops them on a redirect to another origin', async () => {
    const seen: Array<{ where: string; auth: string | undefined }> = [];
    const other = await serve((path, headers, res) => {
      seen.push({ where: `other${path}`, auth: headers.authorization });
      res.end(PAYLOAD);
    });
    const origin = await serve((path, headers, res) => {
      seen.push({ where: `origin${path}`, auth: headers.authorization });
      if (path === '/a') res.writeHead(302, { location: '/b' }).end();
      else res.writeHead(307, { location: `${other}/files/w.whl` }).end();
    });
    const { body } = await open(`${origin}/a`);
    expect(await readAll(body)).toEqual(PAYLOAD);
    expect(seen).toEqual([
      { where: 'origin/a', auth: 'Basic c2VjcmV0' },
      { where: 'origin/b', auth: 'Basic c2VjcmV0' },
      { where: 'other/files/w.whl', auth: undefined },
    ]);
  });

  it('undoes a gzip Content-Encoding and checks the digest of the decoded bytes; the size is not announced', async () => {
    const origin = await serve((_p, _h, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(PAYLOAD)));
    const sha256 = createHash('sha256').update(PAYLOAD).digest('hex');
    const { body, size } = await open(`${origin}/w.whl`, { sha256 });
    expect(size).toBeUndefined();
    expect(await readAll(body)).toEqual(PAYLOAD);
  });

  it('announces the size of an unencoded body', async () => {
    const origin = await serve((_p, _h, res) => res.writeHead(200, { 'content-length': PAYLOAD.length }).end(PAYLOAD));
    const { body, size } = await open(`${origin}/w.whl`);
    expect(size).toBe(PAYLOAD.length);
    await readAll(body);
  });

  it('says BAD_RESPONSE for a redirect loop, a redirect to another scheme and an unknown Content-Encoding', async () => {
    const origin = await serve((path, _h, res) => {
      if (path === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (path === '/ftp') res.writeHead(301, { location: 'ftp://127.0.0.1/w.whl' }).end();
      else res.writeHead(200, { 'content-encoding': 'compress' }).end(PAYLOAD);
    });
    for (const path of ['/loop', '/ftp', '/odd']) {
      const err = await failure(open(`${origin}${path}`));
      expect({ path, code: err.code }).toEqual({ path, code: UPSTREAM.BAD_RESPONSE });
    }
  });

  it('fails a body that stops midway with TIMEOUT, saying after how many bytes, and leaves nothing hanging', async () => {
    const origin = await serve((_p, _h, res) => {
      res.writeHead(200, { 'content-length': PAYLOAD.length * 2 });
      res.write(PAYLOAD); // then nothing more: the connection stays open
    });
    const { body } = await open(`${origin}/w.whl`, { timeoutMs: 300 });
    const err = await failure(readAll(body));
    expect(err.code).toBe(UPSTREAM.TIMEOUT);
    expect(err.message).toContain(`after ${PAYLOAD.length} of ${PAYLOAD.length * 2} bytes`);
  });

  it("gives a body read into the reader's buffers the same checks: INTEGRITY for other bytes, the size announced", async () => {
    const origin = await serve((_p, _h, res) => res.writeHead(200, { 'content-length': PAYLOAD.length }).end(PAYLOAD));
    const right = createHash('sha256').update(PAYLOAD).digest('hex');
    const good = (await open(`${origin}/w.whl`, { sha256: right })).body as unknown as ByteSource;
    expect(good.announcedSize).toBe(PAYLOAD.length);
    expect(await readInto(good)).toEqual(PAYLOAD);
    const bad = (await open(`${origin}/w.whl`, { sha256: 'ab'.repeat(32) })).body as unknown as ByteSource;
    const err = await failure(readInto(bad));
    expect(err.code).toBe(UPSTREAM.INTEGRITY);
  });

  it('says UNAVAILABLE, after how many bytes, for a body cut off, and BAD_RESPONSE for broken chunk framing', async () => {
    const origin = await serve((path, _h, res) => {
      if (path === '/cut') {
        res.writeHead(200, { 'content-length': PAYLOAD.length * 2 });
        res.write(PAYLOAD, () => res.socket?.destroy());
      } else {
        // A raw chunk-size line that is not hex, after one good chunk.
        res.socket!.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n');
      }
    });
    const cut = await failure(readAll((await open(`${origin}/cut`)).body));
    expect(cut.code).toBe(UPSTREAM.UNAVAILABLE);
    expect(cut.message).toContain(`after ${PAYLOAD.length} of ${PAYLOAD.length * 2} bytes`);
    const framing = await failure(readAll((await open(`${origin}/chunks`)).body));
    expect(framing.code).toBe(UPSTREAM.BAD_RESPONSE);
  });

  it('does not time out a body the upstream has sent while the reader is busy elsewhere for longer than the timeout', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const origin = await serve((_p, _h, res) => res.writeHead(200, { 'content-length': big.length }).end(big));
    const { body } = await open(`${origin}/w.whl`, { timeoutMs: 200 });
    const source = body as unknown as ByteSource;
    const first = Buffer.alloc(1024);
    expect(await source.readInto(first, 0, first.length)).toBe(1024);
    // The reader (storage, in the sync) takes three timeouts before it asks again.
    await new Promise((r) => setTimeout(r, 600));
    const rest = await readInto(source);
    expect(first.length + rest.length).toBe(big.length);
  });

  it('says the status code of an answer that is not a success, with the status', async () => {
    const origin = await serve((path, _h, res) => res.writeHead(path === '/gone' ? 410 : 503).end('no'));
    expect(await failure(open(`${origin}/gone`))).toMatchObject({ code: UPSTREAM.NOT_FOUND, status: 410 });
    expect(await failure(open(`${origin}/busy`))).toMatchObject({ code: UPSTREAM.UNAVAILABLE, status: 503 });
  });
});
