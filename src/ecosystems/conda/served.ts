// How conda records and documents leave Safelist: a record's served JSON (the stored upstream
// record plus the fields only the serving channel sets) and the zstd compression shared by
// repodata.json.zst and the CEP 16 shards. Never adds a field a client could use to go around
// Safelist (those are dropped on the way in, catalog.ts).
import { constants as zlib, zstdCompressSync } from 'node:zlib';
import type { CondaPackage } from './catalog.js';

/**
 * zstd level: each document or shard is compressed once per rendering, on the first request
 * that asks. Measured on a 12.5 MB synthetic repodata (30,000 records): level 3 gives 2.55 MB in
 * ~40 ms, 9 gives 2.69 MB in ~300 ms (the hashes do not compress), 19 gives 2.07 MB in ~25 s,
 * far too long for a request; gzip 6 gives 2.78 MB in ~350 ms.
 */
const ZSTD_LEVEL = 3;

export function zstdCompress(bytes: Uint8Array): Buffer {
  return zstdCompressSync(bytes, { params: { [zlib.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
}

/**
 * A record as served: the stored JSON plus CEP 47's indexed_timestamp (Unix milliseconds of
 * the time Safelist first stored the file), so conda's --exclude-newer and cool-downs rely on a
 * time no package author sets.
 */
export function servedRecord(p: CondaPackage): string {
  if (!p.indexedAt) return p.record;
  return `${p.record.slice(0, -1)}${p.record.length > 2 ? ',' : ''}"indexed_timestamp":${p.indexedAt.getTime()}}`;
}
