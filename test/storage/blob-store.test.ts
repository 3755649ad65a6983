// The BlobStore contract, run unchanged against every implementation: the local folder store
// in a temporary directory and the Azure store against a real Azurite. What it must never
// allow: a reader seeing part of an object, or a failed write changing what a key holds.
// Also what the sync builds on it: writes from lent buffers, verified puts hashed while
// streaming (from a stream or a ByteSource), and a wheel's METADATA read by range reads; and the
// folder store's clean-up of writes killed midway.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../src/storage/azure-blob.js';
import { slabs } from '../../src/storage/aligned-slabs.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { BlobNotFound, type BlobStore, type ByteRange, type ByteSource } from '../../src/storage/types.js';
import { DigestMismatch, SizeMismatch, storeVerified } from '../../src/catalog/ingest.js';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { readStoredWheelMetadata } from '../../src/ecosystems/pypi/metadata.js';
import { buildWheel } from '../support/wheels.js';
import { startAzurite, type Azurite } from '../support/azurite.js';

interface Subject {
  name: string;
  open(): Promise<BlobStore>;
  close(): Promise<void>;
}

function folderStore(): Subject {
  let root = '';
  return {
    name: 'FsBlobStore',
    async open() {
      root = await mkdtemp(join(tmpdir(), 'safelist-blobs-'));
      return new FsBlobStore(root);
    },
    async close() {
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}

function azureStore(): Subject {
  let azurite: Azurite | undefined;
  return {
    name: 'AzureBlobStore',
    async open() {
      azurite = await startAzurite();
      const store = new AzureBlobStore({ connectionString: azurite.connectionString, container: 'contract' });
      await store.check(); // creates the container
      return store;
    },
    async close() {
      await azurite?.stop();
    },
  };
}

const MiB = 1024 * 1024;

describe.each([folderStore(), azureStore()])('BlobStore contract: $name', (subject) => {
  let store: BlobStore;

  beforeAll(async () => {
    store = await subject.open();
  }, 60_000);

  afterAll(async () => {
    await subject.close();
  });

  it('stores a Buffer and reads it back whole', async () => {
    const body = randomBytes(10_000);
    expect(await store.put('buffer/one', body)).toEqual({ size: body.length });
    expect(await readAll(await store.get('buffer/one'))).toEqual(body);
    expect(await store.stat('buffer/one')).toEqual({ size: body.length });
  });

  it('stores a stream spanning several blocks and reads it back whole', async () => {
    const body = randomBytes(9 * MiB + 123);
    expect(await store.put('stream/one', chunked(body, 64 * 1024))).toEqual({ size: body.length });
    expect(digest(await readAll(await store.get('stream/one')))).toBe(digest(body));
    expect(await store.stat('stream/one')).toEqual({ size: body.length });
  });

  it('appends to an append-only object, creating it on first use and keeping earlier bytes', async () => {
    await store.append('anchors/log', Buffer.from('one\n'));
    await store.append('anchors/log', Buffer.from('two\n'));
    await Promise.all(['a', 'b', 'c'].map((x) => store.append('anchors/log', Buffer.from(`${x}\n`))));
    const text = (await readAll(await store.get('anchors/log'))).toString();
    expect(text.startsWith('one\ntwo\n')).toBe(true);
    expect(text.split('\n').slice(2, 5).sort()).toEqual(['a', 'b', 'c']);
    expect(await store.stat('anchors/log')).toEqual({ size: 14 });
  });

  it('stores empty objects', async () => {
    expect(await store.put('empty/buffer', Buffer.alloc(0))).toEqual({ size: 0 });
    expect(await store.put('empty/stream', Readable.from([]))).toEqual({ size: 0 });
    expect(await store.stat('empty/buffer')).toEqual({ size: 0 });
    expect(await store.stat('empty/stream')).toEqual({ size: 0 });
    expect((await readAll(await store.get('empty/stream'))).length).toBe(0);
  });

  describe('byte ranges', () => {
    const body = randomBytes(5 * MiB + 17);
    beforeAll(async () => {
      await store.put('range/object', chunked(body, 100_000));
    });

    it.each([
      ['the first byte', 0, 0],
      ['a middle slice', 1_000, 1_999],
      ['a slice across a 4 MiB block boundary', 4 * MiB - 10, 4 * MiB + 9],
      ['the last byte', body.length - 1, body.length - 1],
      ['everything', 0, body.length - 1],
    ])('reads %s', async (_what, start, end) => {
      const got = await readAll(await store.get('range/object', { start, end }));
      expect(got.length).toBe(end - start + 1);
      expect(got.equals(body.subarray(start, end + 1))).toBe(true);
    });
  });

  it('reports an absent key as undefined from stat and BlobNotFound from get', async () => {
    expect(await store.stat('absent/key')).toBeUndefined();
    const failure = await store.get('absent/key').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(BlobNotFound);
    expect((failure as BlobNotFound).key).toBe('absent/key');
    await expect(store.get('absent/key', { start: 0, end: 9 })).rejects.toBeInstanceOf(BlobNotFound);
  });

  it('deletes idempotently', async () => {
    await store.put('delete/me', Buffer.from('bye'));
    await store.delete('delete/me');
    expect(await store.stat('delete/me')).toBeUndefined();
    await expect(store.delete('delete/me')).resolves.toBeUndefined();
    await expect(store.delete('delete/never-was')).resolves.toBeUndefined();
  });

  it('lists keys under a prefix as a folder', async () => {
    for (const key of ['list/a/one', 'list/a/sub/two', 'list/ab/three', 'list/b/four']) {
      await store.put(key, Buffer.from(key));
    }
    expect(await collect(store.list('list/a'))).toEqual(['list/a/one', 'list/a/sub/two']);
    expect(await collect(store.list('list/a/'))).toEqual(['list/a/one', 'list/a/sub/two']);
    expect(await collect(store.list('list/none'))).toEqual([]);
    const everything = await collect(store.list(''));
    expect(everything).toEqual(expect.arrayContaining(['list/a/one', 'list/ab/three', 'list/b/four']));
    expect(everything.every((key) => !key.startsWith('.'))).toBe(true);
  });

  it('replaces an object on overwrite', async () => {
    await store.put('overwrite/key', randomBytes(3 * MiB));
    const second = randomBytes(1_000);
    expect(await store.put('overwrite/key', chunked(second, 100))).toEqual({ size: second.length });
    expect(await store.stat('overwrite/key')).toEqual({ size: second.length });
    expect(await readAll(await store.get('overwrite/key'))).toEqual(second);
  });

  it.each(['../x', 'a/../../b', '/abs', ''])('refuses the unsafe key %j', async (key) => {
    const unsafe = /unsafe blob key/;
    await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(unsafe);
    await expect(store.get(key)).rejects.toThrow(unsafe);
    await expect(store.stat(key)).rejects.toThrow(unsafe);
    await expect(store.delete(key)).rejects.toThrow(unsafe);
  });

  describe('atomicity', () => {
    it('leaves nothing visible when the source fails midway', async () => {
      const failure = await store.put('atomic/new', failingSource(9 * MiB)).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toBe('upstream connection reset');
      expect(await store.stat('atomic/new')).toBeUndefined();
      await expect(store.get('atomic/new')).rejects.toBeInstanceOf(BlobNotFound);
      expect(await collect(store.list('atomic'))).not.toContain('atomic/new');
    });

    it('keeps the previous version intact when a replacing source fails midway', async () => {
      const previous = randomBytes(2 * MiB + 5);
      await store.put('atomic/existing', previous);
      await expect(store.put('atomic/existing', failingSource(9 * MiB))).rejects.toThrow('upstream connection reset');
      expect(await store.stat('atomic/existing')).toEqual({ size: previous.length });
      expect(digest(await readAll(await store.get('atomic/existing')))).toBe(digest(previous));
    });

    it('rejects, and stores nothing, when the source is destroyed without an error', async () => {
      let sent = 0;
      const source = new Readable({
        read() {
          if (sent >= 5 * MiB) {
            this.destroy();
            return;
          }
          sent += 256 * 1024;
          this.push(randomBytes(256 * 1024));
        },
      });
      await expect(store.put('atomic/cut', source)).rejects.toThrow();
      expect(await store.stat('atomic/cut')).toBeUndefined();
    }, 30_000);

    it.each([
      ['an absent key', undefined],
      ['a key holding a previous version', randomBytes(1 * MiB)],
    ])(
      'never shows readers a partial object while a 20 MiB put runs on %s',
      async (_what, previous) => {
        const key = `atomic/concurrent-${previous ? 'replace' : 'new'}`;
        if (previous) await store.put(key, previous);
        const next = randomBytes(20 * MiB);
        const complete = new Map<number, string>([[next.length, digest(next)]]);
        if (previous) complete.set(previous.length, digest(previous));

        let done = false;
        const writing = store.put(key, chunked(next, 256 * 1024, 5)).finally(() => {
          done = true;
        });
        const seen = { stat: 0, get: 0, absent: 0 };
        while (!done) {
          const info = await store.stat(key);
          seen.stat++;
          if (info === undefined) seen.absent++;
          else expect(complete.has(info.size), `stat saw ${info.size} bytes`).toBe(true);

          const body = await store.get(key).then(readAll, (err: unknown) => {
            if (err instanceof BlobNotFound) return undefined;
            throw err;
          });
          seen.get++;
          if (body !== undefined) expect(complete.get(body.length), `get saw ${body.length} bytes`).toBe(digest(body));
        }
        await writing;
        expect(await store.stat(key)).toEqual({ size: next.length });
        expect(digest(await readAll(await store.get(key)))).toBe(digest(next));
        // The put must have been observed in flight for this test to mean anything.
        expect(seen.stat).toBeGreaterThan(2);
        if (!previous) expect(seen.absent).toBeGreaterThan(0);
      },
      60_000,
    );
  });

  describe('writes from lent buffers (openWriter: what a verified put of a download uses)', () => {
    it('stores what was written from one reused buffer, visible only once committed', async () => {
      const body = randomBytes(9 * MiB + 11);
      const writer = await store.openWriter('lent/one');
      const buf = Buffer.allocUnsafe(writer.chunkSize);
      for (let at = 0; at < body.length; at += buf.length) {
        const n = body.copy(buf, 0, at, at + buf.length);
        await writer.write(buf.subarray(0, n)); // resolved: buf may be refilled
      }
      expect(await store.stat('lent/one')).toBeUndefined();
      expect(await writer.commit()).toEqual({ size: body.length });
      expect(await store.stat('lent/one')).toEqual({ size: body.length });
      expect(digest(await readAll(await store.get('lent/one')))).toBe(digest(body));
    }, 60_000);

    it("stores what was written from the writer's own buffers at every size around the block boundaries", async () => {
      // Direct I/O writes whole 4 KiB blocks: a short last buffer is padded and the file cut back.
      for (const size of [1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 3 * MiB + 4095]) {
        const body = randomBytes(size);
        const key = `lent/sized-${size}`;
        const writer = await store.openWriter(key);
        const free: Buffer[] = [];
        const pending: Array<Promise<Buffer>> = [];
        for (let at = 0; at < body.length;) {
          const buf = free.pop() ?? (pending.length < writer.inFlight ? writer.buffer(writer.chunkSize) : await pending.shift()!);
          const n = body.copy(buf, 0, at, at + buf.length);
          at += n;
          pending.push(writer.write(n === buf.length ? buf : buf.subarray(0, n)).then(() => buf));
        }
        await Promise.all(pending);
        expect(await writer.commit()).toEqual({ size });
        expect(await store.stat(key)).toEqual({ size });
        expect(digest(await readAll(await store.get(key))), `${size} bytes`).toBe(digest(body));
      }
    }, 60_000);

    it('lands writes made in flight together in the order they were made', async () => {
      const writer = await store.openWriter('lent/ordered');
      const parts = Array.from({ length: writer.inFlight + 2 }, (_, i) => Buffer.alloc(1000 + i, i + 1));
      const pending: Array<Promise<void>> = [];
      for (const part of parts) {
        if (pending.length === writer.inFlight) await pending.shift();
        pending.push(writer.write(part));
      }
      await Promise.all(pending);
      await writer.commit();
      expect(await readAll(await store.get('lent/ordered'))).toEqual(Buffer.concat(parts));
    });

    it('stores an empty object when nothing was written', async () => {
      const writer = await store.openWriter('lent/empty');
      expect(await writer.commit()).toEqual({ size: 0 });
      expect(await store.stat('lent/empty')).toEqual({ size: 0 });
    });

    it('keeps what the key held when the write is aborted', async () => {
      const previous = randomBytes(1 * MiB + 3);
      await store.put('lent/aborted', previous);
      const writer = await store.openWriter('lent/aborted');
      await writer.write(randomBytes(Math.min(writer.chunkSize, 2 * MiB)));
      await writer.abort();
      await expect(writer.write(Buffer.from('late'))).rejects.toThrow(/after commit or abort/);
      expect(digest(await readAll(await store.get('lent/aborted')))).toBe(digest(previous));
      const fresh = await store.openWriter('lent/never');
      await fresh.write(Buffer.from('partial'));
      await fresh.abort();
      expect(await store.stat('lent/never')).toBeUndefined();
      expect(await collect(store.list('lent'))).not.toContain('lent/never');
    });

    it('verifies a ByteSource while writing it: a wrong digest or a source failing midway leaves nothing and stops the source', async () => {
      const body = randomBytes(9 * MiB + 7);
      const wrong = digest(Buffer.from('other bytes'));
      const bad = byteSource(body, 100_000);
      await expect(storeVerified(store, bad, { sha256: wrong, size: body.length, what: 'big.whl' })).rejects.toBeInstanceOf(DigestMismatch);
      expect(await store.stat(blobKeyForSha256(wrong))).toBeUndefined();

      const cut = byteSource(body, 100_000, 5 * MiB);
      await expect(storeVerified(store, cut, { sha256: digest(body), size: body.length, what: 'big.whl' })).rejects.toThrow(
        'upstream connection reset',
      );
      expect(cut.destroyed).toBe(true);
      expect(await store.stat(blobKeyForSha256(digest(body)))).toBeUndefined();

      const long = byteSource(body, 100_000);
      await expect(storeVerified(store, long, { sha256: digest(body), size: 2 * MiB, what: 'big.whl' })).rejects.toBeInstanceOf(
        SizeMismatch,
      );
      expect(long.destroyed).toBe(true);

      const right = await storeVerified(store, byteSource(body, 100_000), { sha256: digest(body), what: 'big.whl' });
      expect(right).toEqual({ sha256: digest(body), size: body.length, written: true });
      expect(digest(await readAll(await store.get(blobKeyForSha256(digest(body)))))).toBe(digest(body));
      const again = byteSource(body, 100_000);
      expect(await storeVerified(store, again, { sha256: digest(body), size: body.length, what: 'big.whl' })).toMatchObject({
        written: false,
      });
      expect(again.destroyed).toBe(true);
    }, 60_000);
  });

  describe('verified puts and range reads (the sync of large wheels)', () => {
    it('hashes while streaming: a stream whose sha256 is not the announced one leaves nothing under its key', async () => {
      const body = randomBytes(9 * MiB + 7);
      const wrong = digest(Buffer.from('other bytes'));
      const failure = await storeVerified(store, chunked(body, 256 * 1024), { sha256: wrong, size: body.length, what: 'big.whl' }).catch(
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(DigestMismatch);
      expect(await store.stat(blobKeyForSha256(wrong))).toBeUndefined();
      expect(await collect(store.list('sha256'))).not.toContain(blobKeyForSha256(wrong));
      const right = await storeVerified(store, chunked(body, 256 * 1024), { sha256: digest(body), size: body.length, what: 'big.whl' });
      expect(right).toEqual({ sha256: digest(body), size: body.length, written: true });
      expect(digest(await readAll(await store.get(blobKeyForSha256(digest(body)))))).toBe(digest(body));
    }, 60_000);

    it("reads a wheel's METADATA from the stored object through its central directory, by range reads only", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'safelist-wheel-'));
      try {
        // ~4 MiB of incompressible module text puts the central directory past one read window.
        const wheel = await buildWheel(dir, {
          name: 'Big.Wheel',
          version: '2.0',
          requiresPython: '>=3.10',
          modules: { big_wheel: `DATA = "${randomBytes(3 * MiB).toString('base64')}"\n` },
        });
        const key = blobKeyForSha256(wheel.sha256);
        const { size } = await store.put(key, createReadStream(wheel.path));
        const reads: Array<ByteRange | undefined> = [];
        const counting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
          get: (k: string, range?: ByteRange) => {
            reads.push(range);
            return store.get(k, range);
          },
        });
        expect(await readStoredWheelMetadata(counting, key, size, 'big_wheel', '2.0')).toEqual(wheel.metadata);
        expect(reads.length).toBeGreaterThan(0);
        expect(reads.every((r) => r !== undefined)).toBe(true);
        const bytesRead = reads.reduce((n, r) => n + (r!.end - r!.start + 1), 0);
        expect(bytesRead).toBeLessThan(size / 2);
        await expect(readStoredWheelMetadata(store, key, size, 'other', '2.0')).rejects.toThrow(/no other-2.0.dist-info\/METADATA/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });
});

describe('FsBlobStore direct writes', () => {
  const fill = async (store: FsBlobStore, key: string, body: Buffer): Promise<void> => {
    const writer = await store.openWriter(key);
    const buf = writer.buffer(writer.chunkSize);
    for (let at = 0; at < body.length;) {
      const n = body.copy(buf, 0, at, at + buf.length);
      await writer.write(buf.subarray(0, n));
      at += n;
    }
    await writer.commit();
  };

  it('gives every slab back, and writes correctly from plain buffers once the pool is empty', async () => {
    const root = await mkdtemp(join(tmpdir(), 'safelist-blobs-'));
    try {
      const store = new FsBlobStore(root);
      const before = slabs.available;
      // More writers open at once than the pool has slabs: the last ones get heap buffers.
      const writers = await Promise.all(Array.from({ length: before + 6 }, (_, i) => store.openWriter(`many/${i}`)));
      const bodies = writers.map(() => randomBytes(4097));
      await Promise.all(
        writers.map(async (w, i) => {
          const buf = w.buffer(w.chunkSize);
          bodies[i]!.copy(buf);
          await w.write(buf.subarray(0, bodies[i]!.length));
        }),
      );
      if (store.direct.on) expect(slabs.available).toBe(0);
      await Promise.all(writers.map((w, i) => (i % 5 === 0 ? w.abort() : w.commit())));
      expect(slabs.available).toBe(before);
      for (const [i, body] of bodies.entries()) {
        if (i % 5 === 0) expect(await store.stat(`many/${i}`)).toBeUndefined();
        else expect(await readAll(await store.get(`many/${i}`))).toEqual(body);
      }
      expect(await readdir(join(root, '.incoming'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('writes through the page cache, in order and whole, when direct writes are off', async () => {
    const root = await mkdtemp(join(tmpdir(), 'safelist-blobs-'));
    try {
      const store = new FsBlobStore(root, { directWrites: false });
      const before = slabs.available;
      // Past the write-back step (32 MiB), so an fdatasync runs while writes go on.
      const body = randomBytes(40 * MiB + 5);
      await fill(store, 'plain/one', body);
      expect(slabs.available).toBe(before);
      expect(digest(await readAll(await store.get('plain/one')))).toBe(digest(body));
      expect(await readdir(join(root, '.incoming'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('FsBlobStore temporary files', () => {
  it('removes the temporary files of writes that died at the next start (check), and keeps live ones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'safelist-blobs-'));
    try {
      const store = new FsBlobStore(root);
      await store.check();
      const incoming = join(root, '.incoming');
      await writeFile(join(incoming, 'killed-yesterday'), randomBytes(1024));
      const yesterday = new Date(Date.now() - 24 * 3600_000);
      await utimes(join(incoming, 'killed-yesterday'), yesterday, yesterday);
      await writeFile(join(incoming, 'being-written'), randomBytes(1024));
      await store.put('kept/one', randomBytes(10));
      await new FsBlobStore(root).check();
      expect((await readdir(incoming)).sort()).toEqual(['being-written']);
      expect(await collect(store.list(''))).toEqual(['kept/one']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

/** Emits body in chunks; with delayMs, waits between chunks so a put stays in flight. */
function chunked(body: Buffer, size: number, delayMs = 0): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: size,
    read() {
      const push = (): void => {
        if (offset >= body.length) {
          this.push(null);
          return;
        }
        const end = Math.min(offset + size, body.length);
        this.push(body.subarray(offset, end));
        offset = end;
      };
      if (delayMs > 0) setTimeout(push, delayMs);
      else push();
    },
  });
}

/** A download that dies like a reset connection after `failAfter` bytes. */
function failingSource(failAfter: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= failAfter) {
        this.destroy(new Error('upstream connection reset'));
        return;
      }
      const chunk = randomBytes(Math.min(256 * 1024, failAfter - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** A download read into the reader's buffers, readSize bytes at most per read; with failAfter, it dies like a reset connection. */
function byteSource(body: Buffer, readSize: number, failAfter?: number): ByteSource & { destroyed: boolean } {
  let at = 0;
  return {
    destroyed: false,
    announcedSize: body.length,
    async readInto(buf, offset, length) {
      if (failAfter !== undefined && at >= failAfter) throw new Error('upstream connection reset');
      const n = body.copy(buf, offset, at, at + Math.min(length, readSize));
      at += n;
      return n;
    },
    destroy() {
      this.destroyed = true;
    },
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const key of keys) all.push(key);
  return all.sort();
}

function digest(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
