// What static publish writes for one conda subdir of one view: the same documents the read
// path serves — repodata.json, repodata.json.zst and, when the index offers them, CEP 16
// sharded repodata (repodata_shards.msgpack.zst and shards/<sha256>.msgpack.zst) — taken from
// CondaIndex, so the published channel is filtered exactly like the served one (one
// implementation: index.ts and shards.ts). Keys are relative to <channel>/<subdir>/, where the
// shard index's base_url ("./") and shards_base_url ("./shards/") point. Never renders a record
// itself and never writes anything.
import { zstOfDocument, type CondaIndex } from './index.js';

export interface PublishedDocument {
  /** Relative to the subdir folder. */
  key: string;
  body: Buffer;
  contentType: string;
  /** Named by its content (a shard): a copy already at the key with the same size is the same. */
  immutable?: boolean;
}

const JSON_TYPE = 'application/json';
const OCTETS = 'application/octet-stream';

/** The repodata documents of (view, channel, subdir) as static files. */
export function condaSubdirDocuments(index: CondaIndex, view: string, channel: string, subdir: string): PublishedDocument[] {
  const repodata = index.repodata(view, channel, subdir);
  const docs: PublishedDocument[] = [
    { key: 'repodata.json', body: repodata.body, contentType: JSON_TYPE },
    { key: 'repodata.json.zst', body: zstOfDocument(repodata), contentType: 'application/zstd' },
  ];
  if (!index.offersShards) return docs;
  const set = index.shardSet(view, channel, subdir);
  docs.push({ key: 'repodata_shards.msgpack.zst', body: set.index, contentType: OCTETS });
  for (const [hex, shard] of set.shards)
    docs.push({ key: `shards/${hex}.msgpack.zst`, body: shard.body, contentType: OCTETS, immutable: true });
  return docs;
}
