// Local-folder BlobStore (the embedded default). Atomic writes: bytes go to a temporary file
// in <root>/.incoming (same file system), are fsync'd, then renamed over the key. A process
// killed mid-write leaves its temporary file there; check() (run at every start) removes those
// untouched for STALE_MS. Never reads or writes outside its root: every key is checked by
// assertSafeKey (which admits no leading '.') before it becomes a path.
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, BlobNotFound, type BlobInfo, type BlobReader, type BlobStore, type BlobWriter, type ByteRange } from './types.js';
import { slabs } from './aligned-slabs.js';
import { WritesInFlight } from './writes-in-flight.js';

/** Largest read when streaming an object out: large reads cut the per-chunk cost of serving big layers (bench/oci-blob.ts). */
const READ_CHUNK = 2 * 1024 * 1024;

const INCOMING = '.incoming';

/**
 * Bytes gathered before one write call: a download arrives in 64 KiB socket reads, and one
 * writev per 512 KiB instead of a write per chunk cuts the thread-pool round trips eightfold
 * (bench/README.md, sync.ts). At most this much per put waits in memory, plus the stream's own.
 */
const WRITE_BATCH = 512 * 1024;

/**
 * A lent-buffer write (openWriter) takes buffers of this size, at most WRITER_IN_FLIGHT of them
 * pending: one pwrite per MiB, and a transfer holds (WRITER_IN_FLIGHT + 1) MiB whatever its size.
 */
const WRITER_CHUNK = 1024 * 1024;
/** Bytes a writer lets accumulate before it starts their write-back (FsBlobWriter.writeBack). */
const WRITEBACK_EVERY = 32 * 1024 * 1024;
const WRITER_IN_FLIGHT = 2;

// A live write touches its file at least once per upstream timeout (60 s by default; stalled
// transfers are aborted), so a temporary file idle for an hour belongs to a dead process.
const STALE_MS = 3600_000;

export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  /**
   * Whether openWriter writes with O_DIRECT: unless turned off, and until the file system
   * refuses it (some network and FUSE mounts answer EINVAL), after which every writer goes
   * through the page cache.
   */
  readonly direct: { on: boolean };

  constructor(
    private readonly root: string,
    opts: { directWrites?: boolean } = {},
  ) {
    this.direct = { on: (opts.directWrites ?? true) && constants.O_DIRECT !== undefined };
  }

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  /** A new temporary file for key: where it will be renamed to, and its path in .incoming. */
  private async incoming(key: string): Promise<{ target: string; tmp: string }> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    await mkdir(join(this.root, INCOMING), { recursive: true });
    return { target, tmp: join(this.root, INCOMING, randomBytes(8).toString('hex')) };
  }

  async openWriter(key: string): Promise<BlobWriter> {
    const { target, tmp } = await this.incoming(key);
    if (this.direct.on) {
      try {
        const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o666);
        return new FsBlobWriter(fh, tmp, target, this.direct);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        this.direct.on = false;
        // The file may have been created before the flag was refused.
        await rm(tmp, { force: true });
      }
    }
    return new FsBlobWriter(await open(tmp, 'wx'), tmp, target, undefined);
  }

  async put(key: string, body: Readable | Buffer): Promise<BlobInfo> {
    const { target, tmp } = await this.incoming(key);
    try {
      const fh = await open(tmp, 'wx');
      let size: number;
      try {
        const out = new BatchedFileWriter(fh);
        await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, out);
        await fh.sync();
        size = out.written;
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      return { size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const p = this.path(key);
    const fh = await open(p, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') throw new BlobNotFound(key);
      throw err;
    });
    // Read buffers sized to the object (at most READ_CHUNK), so small objects cost little memory.
    const length = range
      ? range.end - range.start + 1
      : (
          await fh.stat().catch(async (err: unknown) => {
            await fh.close();
            throw err;
          })
        ).size;
    const highWaterMark = Math.min(READ_CHUNK, Math.max(64 * 1024, length));
    return createReadStream('', { fd: fh, autoClose: true, ...(range ? { start: range.start, end: range.end } : {}), highWaterMark });
  }

  async openReader(key: string): Promise<BlobReader> {
    const fh = await open(this.path(key), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') throw new BlobNotFound(key);
      throw err;
    });
    const { size } = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    return {
      size,
      read: async (buf, length, position) => (await fh.read(buf, 0, length, position)).bytesRead,
      close: () => fh.close(),
    };
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async append(key: string, data: Buffer): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    // O_APPEND: each write lands at the end, whole (one write call per append), then fsync.
    const fh = await open(target, 'a');
    try {
      await fh.write(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const start = prefix ? this.path(prefix.replace(/\/$/, '')) : this.root;
    yield* walk(this.root, start);
  }

  async check(): Promise<void> {
    await mkdir(join(this.root, INCOMING), { recursive: true });
    const probe = join(this.root, INCOMING, `probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fh = await open(probe, 'w');
    await fh.close();
    await rm(probe, { force: true });
    await this.removeStaleIncoming();
  }

  /** Removes temporary files of writes that died (kill -9, power loss); returns how many. */
  async removeStaleIncoming(now = Date.now()): Promise<number> {
    const dir = join(this.root, INCOMING);
    let removed = 0;
    for (const name of await readdir(dir)) {
      const s = await stat(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // finished or removed meanwhile
        throw err;
      });
      if (s && now - s.mtimeMs > STALE_MS) {
        await rm(join(dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

/**
 * A write from lent buffers into a temporary file, renamed over the key at commit once fsync'd.
 * Opened with O_DIRECT (when `direct` is given), a full buffer from writer.buffer() goes from
 * the slab straight to the disk: no copy into the page cache, whose pages a fresh VM backs at
 * ~2 CPU s/GB (bench/README.md, sync), and a 2.5 GB wheel evicts nothing the server reads. The
 * last, short buffer is written padded with zeros to the block size and the file truncated back
 * at commit. A buffer the pool could not lend, or a file system that refuses a direct write,
 * goes through a second descriptor of the same file without O_DIRECT; with that descriptor
 * alone, the writer starts write-back every WRITEBACK_EVERY bytes so commit finds little left.
 */
class FsBlobWriter implements BlobWriter {
  readonly chunkSize = WRITER_CHUNK;
  readonly inFlight = WRITER_IN_FLIGHT;
  private size = 0;
  private padded = false;
  private synced = 0;
  private syncing = false;
  /** The same file without O_DIRECT, opened on first need (fh itself when not direct). */
  private plain: Promise<FileHandle> | undefined;
  private readonly lent: Buffer[] = [];
  private readonly writes = new WritesInFlight();

  constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly target: string,
    private readonly direct: { on: boolean } | undefined,
  ) {
    if (!direct) this.plain = Promise.resolve(fh);
  }

  buffer(size: number): Buffer {
    const slab = this.direct?.on ? slabs.take() : undefined;
    if (!slab) return Buffer.allocUnsafeSlow(size);
    this.lent.push(slab);
    return slab.subarray(0, Math.min(size, slab.length));
  }

  write(buf: Buffer): Promise<void> {
    const at = this.size;
    this.size += buf.length;
    return this.writes.add(() => this.writeAt(buf, at));
  }

  private async writeAt(buf: Buffer, at: number): Promise<void> {
    const view = this.direct?.on ? slabs.directView(buf, at) : undefined;
    if (view) {
      try {
        await writeAt(this.fh, view, at);
        if (view.length > buf.length) this.padded = true;
        return;
      } catch (err) {
        // Refused only for its flag (alignment the device wants larger, a file system without
        // direct I/O): the store stops asking, and this write goes through the page cache.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        this.direct!.on = false;
      }
    }
    this.plain ??= open(this.tmp, 'r+');
    await writeAt(await this.plain, buf, at);
    if (this.size - this.synced >= WRITEBACK_EVERY && !this.syncing) this.writeBack();
  }

  /**
   * Starts writing back what went through the page cache so far while the transfer goes on,
   * instead of every file's bytes reaching the disk at commit. A failure is the writer's
   * failure (a failed fdatasync may not be reported again).
   */
  private writeBack(): void {
    this.syncing = true;
    this.synced = this.size;
    void this.writes
      .add(async () => (await this.plain!).datasync())
      .catch(() => undefined)
      .finally(() => (this.syncing = false));
  }

  async commit(): Promise<BlobInfo> {
    const failed = await this.writes.end();
    if (failed) {
      await this.drop();
      throw failed;
    }
    try {
      // The padding of the last direct write is cut off; fsync is per file, whichever descriptor.
      if (this.padded) await this.fh.truncate(this.size);
      await this.fh.sync();
    } catch (err) {
      await this.drop();
      throw err;
    }
    try {
      await this.close();
      await rename(this.tmp, this.target);
    } catch (err) {
      await rm(this.tmp, { force: true });
      throw err;
    }
    return { size: this.size };
  }

  async abort(): Promise<void> {
    await this.writes.end();
    await this.drop();
  }

  private async drop(): Promise<void> {
    // A close that fails cannot make the file visible: it is removed either way.
    await this.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }

  /** Closes both descriptors and gives the lent slabs back (every write has settled). */
  private async close(): Promise<void> {
    for (const slab of this.lent.splice(0)) slabs.give(slab);
    const plain = await this.plain?.catch(() => undefined);
    try {
      if (plain && plain !== this.fh) await plain.close();
    } finally {
      await this.fh.close();
    }
  }
}

/** Writes all of buf at position (a short write goes on from where it stopped). */
async function writeAt(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw new Error('file write made no progress');
    done += bytesWritten;
  }
}

/**
 * Writes a stream into an open file at its end, WRITE_BATCH bytes per writev (the chunks
 * themselves, not copies); the last batch is written by final(). Never closes the handle.
 */
class BatchedFileWriter extends Writable {
  written = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;

  constructor(private readonly fh: FileHandle) {
    super({ highWaterMark: WRITE_BATCH });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes < WRITE_BATCH) return cb();
    this.flushBatch().then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flushBatch().then(() => cb(), cb);
  }

  private async flushBatch(): Promise<void> {
    const buffers = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    let left = buffers.reduce((n, b) => n + b.length, 0);
    // writev may write less than asked (a signal, a full disk's last bytes): go on from there.
    for (let pending = buffers; left > 0;) {
      const { bytesWritten } = await this.fh.writev(pending, this.written);
      if (bytesWritten === 0) throw new Error('file write made no progress');
      this.written += bytesWritten;
      left -= bytesWritten;
      pending = afterBytes(pending, bytesWritten);
    }
  }
}

/** The buffers that remain once n bytes of them are written (sliced, not copied). */
function afterBytes(buffers: Buffer[], n: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) n -= b.length;
    else {
      rest.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
  }
  return rest;
}

async function* walk(root: string, dir: string): AsyncIterable<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  for (const e of entries) {
    // Keys never start with '.': this skips .incoming and older versions' .incoming-* files.
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) yield* walk(root, full);
    else if (e.isFile()) yield relative(root, full).split(sep).join('/');
  }
}
