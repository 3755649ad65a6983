// File bodies come over node:http (src/upstream/node-get.ts) instead of fetch. What fetch did
// for us and this client must still do: drop credentials on a redirect to another origin (keep
// them on the same origin), undo a Content-Encoding, refuse redirect loops and other schemes as
// the upstream's bad answer, and end a body that stalls midway with TIMEOUT (never a hang).
// Real servers on 127.0.0.1: two ports are two origins.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openStream } from '../../src/upstream/http.js';
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

describe('openStream over node:http', () => {
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

  it('says the status code of an answer that is not a success, with the status', async () => {
    const origin = await serve((path, _h, res) => res.writeHead(path === '/gone' ? 410 : 503).end('no'));
    expect(await failure(open(`${origin}/gone`))).toMatchObject({ code: UPSTREAM.NOT_FOUND, status: 410 });
    expect(await failure(open(`${origin}/busy`))).toMatchObject({ code: UPSTREAM.UNAVAILABLE, status: 503 });
  });
});
