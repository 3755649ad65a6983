// Static publish of a view's conda channels: `<channel>/channeldata.json` and, per subdir, the
// same documents the read path serves — repodata.json, repodata.json.zst and, when the index
// offers them, CEP 16 sharded repodata (repodata_shards.msgpack.zst and shards/<sha256>.msgpack.zst)
// — taken from CondaIndex, so the published channel is filtered exactly like the served one (one
// implementation: index.ts and shards.ts), beside the package files (a standard channel layout:
// set channel_alias to `<site>/conda/<view>`). The shard index's base_url ("./") and
// shards_base_url ("./shards/") are relative to the subdir folder. It must never copy a package
// the view's policy refuses: a static site cannot refuse with a reason, so a blocked one is left out.
import type { PublishSink } from '../types.js';
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

export async function publishCondaView(index: CondaIndex, view: string, out: PublishSink): Promise<void> {
  for (const channel of index.channels) {
    await out.put(`${channel.name}/channeldata.json`, index.channeldata(view, channel.name).body, JSON_TYPE);
    for (const subdir of index.subdirsOf(channel)) {
      for (const d of condaSubdirDocuments(index, view, channel.name, subdir)) {
        const key = `${channel.name}/${subdir}/${d.key}`;
        await (d.immutable ? out.putImmutable(key, d.body, d.contentType) : out.put(key, d.body, d.contentType));
      }
      for (const p of index.allowedPackages(view, channel.name, subdir))
        await out.copy(`${channel.name}/${subdir}/${p.filename}`, p.sha256, p.size);
    }
  }
}
