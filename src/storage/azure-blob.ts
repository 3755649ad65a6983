// Azure Blob Storage BlobStore (production): one container, one block blob per key. Bytes are
// streamed both ways and never held whole in memory. Never makes a partial object visible:
// a put either commits its complete block list or leaves the key as it was.
import { DefaultAzureCredential } from '@azure/identity';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
  type UserDelegationKey,
} from '@azure/storage-blob';
import { azureProxyOptions, type ProxyConfig } from '../config/proxy.js';
import { durationMs } from '../config/schema.js';
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, BlobNotFound, type BlobInfo, type BlobStore, type BlobWriter, type ByteRange, type PutOptions } from './types.js';
import { WritesInFlight } from './writes-in-flight.js';

export interface AzureBlobOptions {
  /** Account key or SAS connection string (Azurite, development). Wins over accountUrl. */
  connectionString?: string;
  /** https://<account>.blob.core.windows.net, authenticated with DefaultAzureCredential. */
  accountUrl?: string;
  container: string;
  /** Redirect files of at least this many bytes to SAS URLs (0: never). */
  redirectAbove?: number;
  redirectTtl?: string;
  /** network.proxy: the account is reached through it unless it is on the no-proxy list. */
  proxy?: ProxyConfig;
}

/** The blob endpoint a connection string names (BlobEndpoint, else the account's default one). */
function blobEndpoint(connectionString: string): string | undefined {
  const fields = new Map(
    connectionString
      .split(';')
      .map((f) => [f.slice(0, f.indexOf('=')).toLowerCase(), f.slice(f.indexOf('=') + 1)] as const)
      .filter(([k]) => k !== ''),
  );
  const explicit = fields.get('blobendpoint');
  if (explicit) return explicit;
  const account = fields.get('accountname');
  if (!account) return undefined;
  return `${fields.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
}

// Streamed puts stage one block per BLOCK_SIZE bytes and keep at most STREAM_BUFFERS blocks in
// memory: 8 MiB per put in flight, two blocks staged at a time (the SDK stages ceil(3/4 of the
// buffers) at once). The sync runs sync.concurrency puts at once (8 by default): 64 MiB in all,
// which keeps a sync of any file size under 256 MiB resident (bench/sync.ts; 16 MiB per put
// measured 277 MiB). 50,000 blocks × 4 MiB caps an object at ~195 GiB, far above any package or
// image layer we mirror. Buffers (already in memory) upload with BLOCK_BUFFERS blocks at once.
const BLOCK_SIZE = 4 * 1024 * 1024;
const BLOCK_BUFFERS = 4;
const STREAM_BUFFERS = 2;

// Requests fail within seconds when the account is unreachable, instead of the SDK's default
// minutes of retries: the read path answers 503 + Retry-After and keeps serving index pages
// from memory. Each try may still take as long as a large block upload needs.
const RETRY = { maxTries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 1000, tryTimeoutInMs: 120_000 };

// Written by check() only. Starts with '.', which assertSafeKey never admits, so it cannot
// collide with a stored key; list() hides it.
const PROBE_PREFIX = '.safelist-probe-';

export class AzureBlobStore implements BlobStore {
  readonly kind = 'azure' as const;
  private readonly container: ContainerClient;
  private readonly service: BlobServiceClient;
  private readonly redirectAbove: number;
  private readonly redirectTtlMs: number;
  private delegationKey: { key: UserDelegationKey; until: number } | undefined;

  constructor(options: AzureBlobOptions) {
    const endpoint = options.connectionString ? blobEndpoint(options.connectionString) : options.accountUrl;
    const proxyOptions = options.proxy && endpoint ? azureProxyOptions(options.proxy, endpoint) : undefined;
    const clientOptions = { retryOptions: RETRY, ...(proxyOptions ? { proxyOptions } : {}) };
    const service = options.connectionString
      ? BlobServiceClient.fromConnectionString(options.connectionString, clientOptions)
      : options.accountUrl
        ? new BlobServiceClient(options.accountUrl, new DefaultAzureCredential(), clientOptions)
        : undefined;
    if (!service) throw new Error('AzureBlobStore needs a connectionString or an accountUrl');
    this.service = service;
    this.container = service.getContainerClient(options.container);
    this.redirectAbove = options.redirectAbove ?? 0;
    this.redirectTtlMs = durationMs(options.redirectTtl ?? '10m');
  }

  /**
   * A read-only SAS URL for one blob, valid for redirectTtl (from a minute ago, for clock skew).
   * Shared-key accounts (connection strings, Azurite) sign with the key; managed identities
   * sign with a user delegation key, fetched once an hour.
   */
  async directUrl(key: string, size: number): Promise<string | undefined> {
    if (!this.redirectAbove || size < this.redirectAbove) return undefined;
    const blob = this.blob(key);
    const startsOn = new Date(Date.now() - 60_000);
    const expiresOn = new Date(Date.now() + this.redirectTtlMs);
    const permissions = BlobSASPermissions.parse('r');
    if (blob.credential instanceof StorageSharedKeyCredential) {
      return blob.generateSasUrl({ permissions, startsOn, expiresOn });
    }
    const now = Date.now();
    if (!this.delegationKey || this.delegationKey.until - now < this.redirectTtlMs + 300_000) {
      const until = now + 3600_000 + this.redirectTtlMs;
      this.delegationKey = { key: await this.service.getUserDelegationKey(startsOn, new Date(until)), until };
    }
    const sas = generateBlobSASQueryParameters(
      { containerName: this.container.containerName, blobName: key, permissions, startsOn, expiresOn, protocol: SASProtocol.Https },
      this.delegationKey.key,
      this.service.accountName,
    );
    return `${blob.url}?${sas.toString()}`;
  }

  private blob(key: string): BlockBlobClient {
    assertSafeKey(key);
    return this.container.getBlockBlobClient(key);
  }

  // Atomicity rests on block blob semantics: staged blocks stay uncommitted (invisible to
  // reads, properties and listings) until Put Block List. In @azure/storage-blob 12.32,
  // BlockBlobClient.uploadStream stages blocks through BufferScheduler and calls
  // commitBlockList only after the scheduler resolves; an 'error' on the source rejects the
  // scheduler, so the commit never happens and the key keeps its previous version (or stays
  // absent). Azure discards uncommitted blocks after a week. Checked against Azurite by
  // test/storage/blob-store.test.ts. Two puts racing on one key: the first commit discards
  // the other's staged blocks, so the later one rejects with InvalidBlockList; the key still
  // holds one whole object.
  // Same atomicity as put(): blocks staged under ids of this writer only, committed as one list.
  async openWriter(key: string, opts: PutOptions = {}): Promise<BlobWriter> {
    return new AzureBlobWriter(this.blob(key), opts);
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions = {}): Promise<BlobInfo> {
    const blob = this.blob(key);
    const blobHTTPHeaders = opts.contentType ? { blobContentType: opts.contentType } : undefined;
    if (Buffer.isBuffer(body)) {
      // Up to 256 MiB this is one Put Blob, above it staged blocks and one commit: atomic both ways.
      await blob.uploadData(body, { blockSize: BLOCK_SIZE, concurrency: BLOCK_BUFFERS, ...(blobHTTPHeaders ? { blobHTTPHeaders } : {}) });
      return { size: body.length };
    }
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(null, chunk);
      },
    });
    // uploadStream watches only 'data', 'end' and 'error': a source destroyed without an error
    // would leave it waiting forever. pipeline() turns that premature close into an error on
    // `counted`, and destroys the source if the upload fails first.
    const feeding = pipeline(body, counted);
    try {
      await Promise.all([blob.uploadStream(counted, BLOCK_SIZE, STREAM_BUFFERS, blobHTTPHeaders ? { blobHTTPHeaders } : {}), feeding]);
    } catch (err) {
      counted.destroy();
      throw err;
    }
    return { size };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const blob = this.blob(key);
    let offset = 0;
    let count: number | undefined;
    if (range) {
      // count 0 would mean "to the end" to the SDK, so an empty or inverted range must not pass.
      if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
        throw new RangeError(`invalid byte range ${range.start}-${range.end} for ${key}`);
      }
      offset = range.start;
      count = range.end - range.start + 1;
    }
    // download() resolves once headers arrive; the body streams, and on a broken connection
    // the SDK resumes with If-Match on the first ETag, so a concurrent overwrite cannot splice
    // two versions into one read.
    const res = await blob.download(offset, count).catch((err: unknown) => {
      if (isNotFound(err)) throw new BlobNotFound(key);
      throw err;
    });
    const stream = res.readableStreamBody;
    if (!(stream instanceof Readable)) throw new Error(`download of ${key} returned no Node stream`);
    return stream;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const props = await this.blob(key).getProperties();
      return { size: props.contentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      // deleteIfExists absorbs BlobNotFound only; a missing container means absent too.
      await this.blob(key).deleteIfExists({ deleteSnapshots: 'include' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async append(key: string, data: Buffer): Promise<void> {
    assertSafeKey(key);
    const blob = this.container.getAppendBlobClient(key);
    await blob.createIfNotExists();
    // One Append Block is atomic and capped at 100 MiB; anchors are a line each.
    await blob.appendBlock(data, data.length);
  }

  async *list(prefix: string): AsyncIterable<string> {
    // Folder semantics, like FsBlobStore: 'pypi' lists 'pypi/…', never 'pypi-old/…'.
    const folder = prefix.replace(/\/$/, '');
    if (folder) assertSafeKey(folder);
    try {
      for await (const item of this.container.listBlobsFlat(folder ? { prefix: `${folder}/` } : {})) {
        if (!item.name.startsWith(PROBE_PREFIX)) yield item.name;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  // Needs only blob read/write/delete on an existing container; creates the container (which
  // needs more rights, or an account-wide SAS) only when the probe finds it missing.
  async check(): Promise<void> {
    try {
      await this.probe();
    } catch (err) {
      if (errorCode(err) !== 'ContainerNotFound') throw err;
      await this.container.createIfNotExists();
      await this.probe();
    }
  }

  private async probe(): Promise<void> {
    const probe = this.container.getBlockBlobClient(`${PROBE_PREFIX}${randomBytes(8).toString('hex')}`);
    const written = randomBytes(16);
    await probe.upload(written, written.length);
    try {
      const read = await probe.downloadToBuffer();
      if (!read.equals(written)) throw new Error(`container ${this.container.containerName}: probe blob read back different bytes`);
    } finally {
      // Safe: a probe blob left behind is harmless (its own prefix, never served or listed as
      // content), and a failed delete must not hide the probe's own verdict.
      await probe.deleteIfExists().catch(() => undefined);
    }
  }
}

// HEAD responses carry no body, so their code is only in details (x-ms-error-code).
function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; details?: { errorCode?: unknown } };
  const code = e.code ?? e.details?.errorCode;
  return typeof code === 'string' ? code : undefined;
}

function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return (err as { statusCode?: unknown } | null)?.statusCode === 404 || code === 'BlobNotFound' || code === 'ContainerNotFound';
}

/**
 * A write from lent buffers: one staged block per write() (BLOCK_SIZE at most), released once
 * Azure acknowledged it; commit() puts the block list. Block ids carry a prefix of this writer
 * alone, so a concurrent write of the same key never mixes its blocks in; abort() leaves the
 * staged blocks uncommitted (Azure discards them after a week), the key as it was.
 */
class AzureBlobWriter implements BlobWriter {
  readonly chunkSize = BLOCK_SIZE;
  // As put(): STREAM_BUFFERS blocks of memory per write, one filling while the other uploads.
  readonly inFlight = STREAM_BUFFERS - 1;
  private readonly prefix = randomBytes(6).toString('hex');
  private readonly ids: string[] = [];
  private size = 0;
  private readonly writes = new WritesInFlight();

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly opts: PutOptions,
  ) {}

  buffer(size: number): Buffer {
    return Buffer.allocUnsafeSlow(size);
  }

  write(buf: Buffer): Promise<void> {
    return this.writes.add(() => {
      // Every id of a blob must have the same length: 12 hex digits, a dash, 6 digits (50,000 blocks at most).
      const id = Buffer.from(`${this.prefix}-${String(this.ids.length).padStart(6, '0')}`).toString('base64');
      this.ids.push(id);
      this.size += buf.length;
      return this.blob.stageBlock(id, buf, buf.length);
    });
  }

  async commit(): Promise<BlobInfo> {
    const failed = await this.writes.end();
    if (failed) throw failed;
    const blobHTTPHeaders = this.opts.contentType ? { blobHTTPHeaders: { blobContentType: this.opts.contentType } } : {};
    await this.blob.commitBlockList(this.ids, blobHTTPHeaders);
    return { size: this.size };
  }

  async abort(): Promise<void> {
    await this.writes.end();
  }
}
