// CEP 16 sharded repodata for one (view, channel, subdir): the index repodata_shards.msgpack.zst
// ({version, info: {subdir, base_url, shards_base_url}, shards: {name: sha256 bytes}}) and one
// shard per package name, shards/<sha256 hex>.msgpack.zst ({packages, "packages.conda", removed},
// sha256 and md5 as bytes, as rattler's Shard and PackageRecord read them from msgpack). A shard
// is named by the sha256 of its served (compressed) bytes, so its URL is its content: what
// rattler-index writes (conda-index's experimental shards.py hashes the uncompressed msgpack;
// no client checks either, they key their caches by it). Records are ordered by file name so the
// same records always give the same bytes, hence the same name (rattler-index sorts too).
// Built only from the records the caller passes (the view's allowed, stored ones): never adds a
// record, and never encodes anything but through the MsgpackEncoder it is given.
import { createHash } from 'node:crypto';
import type { CondaPackage } from './catalog.js';
import { servedRecord, zstdCompress } from './served.js';

/**
 * The one thing sharded repodata needs from a msgpack library. Maps are plain objects, byte
 * strings Uint8Array (msgpack bin), as @msgpack/msgpack's `encode` does them.
 */
export interface MsgpackEncoder {
  encode(value: unknown): Uint8Array;
}

export interface Shard {
  name: string;
  /** zstd-compressed msgpack, served as is. */
  body: Buffer;
}

export interface ShardSet {
  /** repodata_shards.msgpack.zst, served as is. */
  index: Buffer;
  /** Strong ETag of the index. */
  etag: string;
  /** By the lower-case hex sha256 of the shard's body. */
  shards: Map<string, Shard>;
  /** Package name → shard hash (hex), for names this set lists. */
  byName: Map<string, string>;
}

/** Relative to the index URL (<channel>/<subdir>/): packages beside it, shards below it. */
const BASE_URL = './';
const SHARDS_BASE_URL = './shards/';

/** A record as a shard holds it: the served record, its hashes as bytes (CEP 16). */
function shardRecord(p: CondaPackage): Record<string, unknown> {
  const r = JSON.parse(servedRecord(p)) as Record<string, unknown>;
  for (const k of ['sha256', 'md5']) if (typeof r[k] === 'string') r[k] = Buffer.from(r[k], 'hex');
  return r;
}

function renderShard(packages: readonly CondaPackage[], encoder: MsgpackEncoder): Buffer {
  const tarBz2: Record<string, unknown> = {};
  const conda: Record<string, unknown> = {};
  const sorted = [...packages].sort((x, y) => (x.filename < y.filename ? -1 : x.filename > y.filename ? 1 : 0));
  for (const p of sorted) (p.filename.endsWith('.conda') ? conda : tarBz2)[p.filename] = shardRecord(p);
  return zstdCompress(encoder.encode({ packages: tarBz2, 'packages.conda': conda, removed: [] }));
}

/** The index and shards of one subdir as a view sees it; `packages` are what the view may install. */
export function renderShards(subdir: string, packages: readonly CondaPackage[], encoder: MsgpackEncoder): ShardSet {
  const grouped = new Map<string, CondaPackage[]>();
  for (const p of packages) {
    const list = grouped.get(p.name) ?? [];
    list.push(p);
    grouped.set(p.name, list);
  }
  const shards = new Map<string, Shard>();
  const byName = new Map<string, string>();
  const hashes: Record<string, Buffer> = {};
  for (const name of [...grouped.keys()].sort()) {
    const body = renderShard(grouped.get(name)!, encoder);
    const digest = createHash('sha256').update(body).digest();
    const hex = digest.toString('hex');
    shards.set(hex, { name, body });
    byName.set(name, hex);
    hashes[name] = digest;
  }
  const index = zstdCompress(
    encoder.encode({ version: 1, info: { subdir, base_url: BASE_URL, shards_base_url: SHARDS_BASE_URL }, shards: hashes }),
  );
  const etag = `"${createHash('sha256').update(index).digest('base64url').slice(0, 32)}"`;
  return { index, etag, shards, byName };
}
