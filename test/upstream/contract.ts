// The UpstreamClient contract (src/upstream/types.ts), written once and run unchanged against
// every implementation by upstream-client.test.ts, each against a real local upstream (nginx
// serving a PEP 503 tree or a conda channel, docker-registry). Faults are the real server's
// answers bent by the proxy in test/support/hold-proxy.ts, or a port nothing listens on. What it
// must never allow: a failure read as "not found" (or an outage as the upstream's fault), bytes that do not match their digest passed
// on as good, a stalled upstream that hangs the caller, a failure told apart by message text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPSTREAM, UpstreamError, type UpstreamClient, type UpstreamErrorCode } from '../../src/upstream/types.js';
import { startHoldProxy, type HoldProxy } from '../support/hold-proxy.js';
import { freePort } from '../support/ports.js';

/** One implementation, over one real upstream the subject starts. */
export interface UpstreamSubject<Index, Ref> {
  name: string;
  start(): Promise<UpstreamWorld<Index, Ref>>;
}

export interface UpstreamWorld<Index, Ref> {
  /** http://127.0.0.1:PORT of the real upstream server. */
  origin: string;
  /** A client of the upstream as reached at `origin` (the real one, or a proxy in front of it). */
  client(origin: string, opts: { timeoutMs: number; retries?: number }): UpstreamClient<Index, Ref>;
  /** A name the upstream has, and what its index must list (file names, tags). */
  known: { name: string; lists: string };
  /** What an index lists, read by the test (a repodata stream is read whole here). */
  listed(index: Index): Promise<string[]>;
  /** A file the upstream has, as a ref reached at `origin`, with its bytes. */
  file(origin: string): { ref: Ref; bytes: Buffer };
  /** A file the upstream does not have. */
  missingFile(origin: string): Ref;
  /** Paths (on the server) of the known name's index and of the file. */
  paths: { index: RegExp; file: RegExp };
  /** Makes the upstream serve other bytes (same length) for the file; its ref still names the digest announced before. */
  tamper(): Promise<void>;
  stop(): Promise<void>;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The UpstreamError a promise rejects with; fails the test if it resolves or rejects with anything else. */
async function upstreamFailure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'an UpstreamError').toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

function expectCode(err: UpstreamError, code: UpstreamErrorCode, upstream: string): void {
  expect({ code: err.code, upstream: err.upstream, message: err.message }).toMatchObject({ code, upstream });
}

// Long enough that a loaded CI machine always answers a healthy request; held requests never answer.
const PATIENT = { timeoutMs: 30_000 };
const IMPATIENT = { timeoutMs: 1_500 };

export function upstreamClientContract<Index, Ref>(subject: UpstreamSubject<Index, Ref>): void {
  describe(`UpstreamClient contract: ${subject.name}`, () => {
    let world: UpstreamWorld<Index, Ref>;
    let proxy: HoldProxy;
    let direct: UpstreamClient<Index, Ref>;
    let proxied: UpstreamClient<Index, Ref>;

    beforeAll(async () => {
      world = await subject.start();
      proxy = await startHoldProxy(world.origin);
      direct = world.client(world.origin, PATIENT);
      proxied = world.client(proxy.url, PATIENT);
    }, 120_000);

    afterAll(async () => {
      proxy?.release();
      await proxy?.stop();
      await world?.stop();
    });

    it('reads the index of a name it has, and says undefined for one it has not', async () => {
      const index = await direct.index(world.known.name);
      expect(index).toBeDefined();
      expect(await world.listed(index!)).toContain(world.known.lists);
      expect(await direct.index('no-such-name-anywhere')).toBeUndefined();
    });

    it('streams a file byte for byte with its size, and heads it without the bytes', async () => {
      const { ref, bytes } = world.file(world.origin);
      const opened = await direct.open(ref);
      expect(opened.size).toBe(bytes.length);
      expect((await readAll(opened.body)).equals(bytes)).toBe(true);
      expect(await direct.head(ref)).toEqual({ size: bytes.length });
    });

    it('says NOT_FOUND for a file the upstream has not (and head says undefined)', async () => {
      const ref = world.missingFile(world.origin);
      expectCode(await upstreamFailure(direct.open(ref)), UPSTREAM.NOT_FOUND, direct.name);
      expect(await direct.head(ref)).toBeUndefined();
    });

    it('says UNAVAILABLE, naming the refused address, when nothing listens (never "not found")', async () => {
      const port = await freePort();
      const down = world.client(`http://127.0.0.1:${port}`, PATIENT);
      const err = await upstreamFailure(down.index(world.known.name));
      expectCode(err, UPSTREAM.UNAVAILABLE, down.name);
      expect(err.message).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
      expectCode(await upstreamFailure(down.open(world.file(`http://127.0.0.1:${port}`).ref)), UPSTREAM.UNAVAILABLE, down.name);
    });

    it.each([
      [500, UPSTREAM.UNAVAILABLE],
      [503, UPSTREAM.UNAVAILABLE],
      [403, UPSTREAM.DENIED],
      [400, UPSTREAM.BAD_RESPONSE],
    ] as const)('says what an answer of %i means (%s), with the status', async (status, code) => {
      proxy.fail(world.paths.index, status);
      proxy.fail(world.paths.file, status);
      try {
        const onIndex = await upstreamFailure(proxied.index(world.known.name));
        expectCode(onIndex, code, proxied.name);
        expect(onIndex.status).toBe(status);
        const onFile = await upstreamFailure(proxied.open(world.file(proxy.url).ref));
        expectCode(onFile, code, proxied.name);
        expect(onFile.status).toBe(status);
      } finally {
        proxy.clear();
      }
    });

    it('retries an index request that failed for a passing reason, as many times as configured', async () => {
      const retrying = world.client(proxy.url, { ...PATIENT, retries: 2 });
      proxy.fail(world.paths.index, 503);
      const before = proxy.requests.length;
      try {
        await upstreamFailure(retrying.index(world.known.name));
      } finally {
        proxy.clear();
      }
      expect(proxy.requests.slice(before).filter((r) => world.paths.index.test(r)).length).toBe(3);
      expect(await world.listed((await retrying.index(world.known.name))!)).toContain(world.known.lists);
    });

    it('fails a body cut off midway as UNAVAILABLE, saying after how many bytes', async () => {
      const { ref, bytes } = world.file(proxy.url);
      proxy.truncate(world.paths.file, 1000);
      try {
        const opened = await proxied.open(ref);
        expect(opened.size).toBe(bytes.length);
        const err = await upstreamFailure(readAll(opened.body));
        expectCode(err, UPSTREAM.UNAVAILABLE, proxied.name);
        expect(err.message).toContain(`after 1000 of ${bytes.length} bytes`);
      } finally {
        proxy.clear();
      }
    });

    it('fails with TIMEOUT when the upstream does not answer within the timeout, index and file alike', async () => {
      const slow = world.client(proxy.url, IMPATIENT);
      proxy.hold(new RegExp(`${world.paths.index.source}|${world.paths.file.source}`));
      try {
        expectCode(await upstreamFailure(slow.index(world.known.name)), UPSTREAM.TIMEOUT, slow.name);
        expectCode(await upstreamFailure(slow.open(world.file(proxy.url).ref)), UPSTREAM.TIMEOUT, slow.name);
      } finally {
        proxy.release();
      }
    });

    it('follows a redirect to where the index and the file really are', async () => {
      proxy.redirect(world.paths.index);
      proxy.redirect(world.paths.file);
      try {
        expect(await world.listed((await proxied.index(world.known.name))!)).toContain(world.known.lists);
        const { ref, bytes } = world.file(proxy.url);
        expect((await readAll((await proxied.open(ref)).body)).equals(bytes)).toBe(true);
      } finally {
        proxy.clear();
      }
      // The proxy answered those paths with a redirect only, so the bytes came from the server itself.
      expect(proxy.requests.some((r) => world.paths.file.test(r))).toBe(true);
    });

    // Last: it changes what the upstream serves.
    it('fails with INTEGRITY when the bytes do not hash to the digest announced for them', async () => {
      await world.tamper();
      const { ref } = world.file(world.origin);
      const opened = await direct.open(ref);
      const err = await upstreamFailure(readAll(opened.body));
      expectCode(err, UPSTREAM.INTEGRITY, direct.name);
    });
  });
}
