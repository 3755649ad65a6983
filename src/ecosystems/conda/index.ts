// The conda read model for every view: "what does view V's copy of channel C list in subdir S"
// as a pre-rendered, cached repodata.json (and channeldata.json), and "may view V fetch file
// F". A document is rendered once per (view, channel, subdir) and reused until the catalog
// subdir, the policy, or a time that changes the answer (an expiry, a cool-down) moves on.
// Never lists a record the view's policy refuses or whose bytes are not stored.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import type { CondaChannelConfig } from './config.js';
import { errors, SafelistError } from '../../errors.js';
import type { PolicyStore } from '../../policy/store.js';
import type { Decision } from '../../policy/types.js';
import type { CondaCatalog, CondaPackage } from './catalog.js';
import { parseCondaVersion } from './grammar.js';
import { rattler } from './rattler.js';
import { servedRecord, zstdCompress } from './served.js';
import { renderShards, type MsgpackEncoder, type Shard, type ShardSet } from './shards.js';
import { ViewReadModel } from '../read-model.js';

export interface CondaDocument {
  body: Buffer;
  etag: string;
  gzip?: Buffer;
  gzipEtag: string;
  /** The same bytes zstd-compressed: the body of repodata.json.zst, a resource of its own. */
  zst?: Buffer;
  zstEtag: string;
  validUntil: number;
  policy: string;
  serial: number;
}

const GZIP_MIN = 1024;

export function gzipOfDocument(doc: CondaDocument): Buffer | undefined {
  if (doc.body.length < GZIP_MIN) return undefined;
  doc.gzip ??= gzipSync(doc.body, { level: 6 });
  return doc.gzip;
}

/** repodata.json.zst: compressed whatever the size (clients that ask for it expect zstd). */
export function zstOfDocument(doc: CondaDocument): Buffer {
  doc.zst ??= zstdCompress(doc.body);
  return doc.zst;
}

function documentOf(body: Buffer, validUntil: number, policy: string, serial: number): CondaDocument {
  const h = createHash('sha256').update(body).digest('base64url').slice(0, 32);
  return { body, etag: `"${h}"`, gzipEtag: `"${h}-gz"`, zstEtag: `"${h}-zst"`, validUntil, policy, serial };
}

interface CachedShards extends ShardSet {
  validUntil: number;
  policy: string;
  serial: number;
}

/** Bytes a shard set holds in memory, for the cache's budget. */
function shardSetSize(s: ShardSet): number {
  let n = s.index.length + 200;
  for (const [hex, shard] of s.shards) n += shard.body.length + hex.length + shard.name.length + 100;
  return n;
}

export function isCondaSubdir(subdir: string): boolean {
  return rattler().isPlatform(subdir) && subdir !== 'unknown';
}

export class CondaIndex extends ViewReadModel<CondaDocument> {
  private readonly byName = new Map<string, CondaChannelConfig>();
  private channeldataSerial = 0;
  private readonly shardCache: LRUCache<string, CachedShards>;
  /** Which package a shard hash was rendered for, in any view: a 403 with the reason, not a 404. */
  private readonly shardOwners = new LRUCache<string, { channel: string; subdir: string; name: string }>({ max: 100_000 });
  private readonly msgpack: MsgpackEncoder | undefined;

  constructor(
    private readonly catalog: CondaCatalog,
    policies: PolicyStore,
    readonly channels: readonly CondaChannelConfig[],
    opts: { maxBytes: number; msgpack?: MsgpackEncoder },
  ) {
    super(policies, opts.maxBytes);
    this.shardCache = new LRUCache<string, CachedShards>({ maxSize: opts.maxBytes, sizeCalculation: (s) => shardSetSize(s) });
    this.msgpack = opts.msgpack;
    for (const c of channels) for (const n of [c.name, ...c.alias]) this.byName.set(n, c);
    catalog.onChange(() => this.channeldataSerial++);
  }

  protected override policyChanged(): void {
    super.policyChanged();
    this.shardCache.clear();
  }

  /** The configured channel for a name or alias, or a 404 that lists what exists. */
  channel(name: string): CondaChannelConfig {
    const c = this.byName.get(name);
    if (!c) throw errors.notFound(`no conda channel "${name}" here; channels: ${[...this.byName.keys()].join(', ') || 'none configured'}`);
    return c;
  }

  /** Subdirs a channel serves: noarch always, plus the configured ones and any with records. */
  subdirsOf(channel: CondaChannelConfig): string[] {
    const set = new Set(['noarch', ...channel.subdirs]);
    for (const s of this.catalog.all()) if (s.channel === channel.name && s.packages.size) set.add(s.subdir);
    return [...set].sort();
  }

  decidePackage(p: CondaPackage, view: string, now = new Date()): Decision {
    return this.policy.decide({
      ecosystem: 'conda',
      name: p.name,
      version: p.version,
      build: p.build,
      subdir: p.subdir,
      channel: p.channel,
      view,
      ...(p.uploadTime ? { uploadTime: p.uploadTime } : {}),
      now,
    });
  }

  /** The packages of one subdir that a view may see, with the time the answer next changes. */
  private visible(view: string, channel: string, subdir: string, now: number): { packages: CondaPackage[]; validUntil: number } {
    const policy = this.policy;
    const at = new Date(now);
    const records = [...(this.catalog.subdir(channel, subdir)?.packages.values() ?? [])].filter((p) => p.stored);
    const byName = new Map<string, CondaPackage[]>();
    for (const p of records) {
      const list = byName.get(p.name);
      if (list) list.push(p);
      else byName.set(p.name, [p]);
    }
    // One question to policy per package name: its records' decisions, and how long they hold.
    let validUntil = Infinity;
    const allowed = new Set<CondaPackage>();
    for (const [name, list] of byName) {
      const versions = list.map((p) => ({ version: p.version, uploadTime: p.uploadTime ?? undefined, build: p.build, subdir: p.subdir }));
      const answer = policy.decideProject({ ecosystem: this.catalog.ecosystem, name, view, channel, versions, now: at });
      validUntil = Math.min(validUntil, answer.validUntil);
      answer.decisions.forEach((d, i) => {
        if (d.allowed) allowed.add(list[i]!);
      });
    }
    // In the catalog's order, as before: documents are rendered from this list.
    return { packages: records.filter((p) => allowed.has(p)), validUntil };
  }

  /** The stored records of a subdir that a view may install (for installability checks). */
  allowedPackages(view: string, channel: string, subdir: string, now = Date.now()): CondaPackage[] {
    return this.visible(view, this.channel(channel).name, subdir, now).packages;
  }

  /** repodata.json for (view, channel, subdir): only allowed, stored records; an empty one for a subdir without any. */
  repodata(view: string, channelName: string, subdir: string, now = Date.now()): CondaDocument {
    const cacheKey = `r\0${view}\0${channelName}\0${subdir}`;
    const policy = this.policy;
    const channel = this.channel(channelName);
    const entry = this.catalog.subdir(channel.name, subdir);
    const serial = entry?.serial ?? 0;
    const hit = this.cache.get(cacheKey);
    if (hit && hit.serial === serial && hit.policy === policy.fingerprint && now < hit.validUntil) return hit;
    this.requireView(view);
    if (!isCondaSubdir(subdir)) throw errors.notFound(`"${subdir}" is not a conda subdir (e.g. noarch, linux-64, osx-arm64, win-64)`);
    const { packages, validUntil } = this.visible(view, channel.name, subdir, now);
    const tarBz2: string[] = [];
    const conda: string[] = [];
    for (const p of packages) (p.filename.endsWith('.conda') ? conda : tarBz2).push(`${JSON.stringify(p.filename)}:${servedRecord(p)}`);
    const body = Buffer.from(
      `{"info":{"subdir":${JSON.stringify(subdir)}},"packages":{${tarBz2.join(',')}},"packages.conda":{${conda.join(',')}},"removed":[],"repodata_version":1}`,
    );
    const doc = documentOf(body, validUntil, policy.fingerprint, serial);
    this.cache.set(cacheKey, doc);
    return doc;
  }

  /** Whether CEP 16 sharded repodata is served (it needs a msgpack encoder). */
  get offersShards(): boolean {
    return this.msgpack !== undefined;
  }

  /** CEP 16 sharded repodata for (view, channel, subdir): the same records as repodata.json, one shard per name. */
  shardSet(view: string, channelName: string, subdir: string, now = Date.now()): ShardSet {
    if (!this.msgpack)
      throw errors.notFound(
        'repodata_shards.msgpack.zst is not offered by Safelist; use repodata.json (conda, mamba and pixi fall back to it)',
      );
    const cacheKey = `s\0${view}\0${channelName}\0${subdir}`;
    const policy = this.policy;
    const channel = this.channel(channelName);
    const serial = this.catalog.subdir(channel.name, subdir)?.serial ?? 0;
    const hit = this.shardCache.get(cacheKey);
    if (hit && hit.serial === serial && hit.policy === policy.fingerprint && now < hit.validUntil) return hit;
    this.requireView(view);
    if (!isCondaSubdir(subdir)) throw errors.notFound(`"${subdir}" is not a conda subdir (e.g. noarch, linux-64, osx-arm64, win-64)`);
    const { packages, validUntil } = this.visible(view, channel.name, subdir, now);
    const set: CachedShards = { ...renderShards(subdir, packages, this.msgpack), validUntil, policy: policy.fingerprint, serial };
    for (const [hex, shard] of set.shards) this.shardOwners.set(hex, { channel: channel.name, subdir, name: shard.name });
    this.shardCache.set(cacheKey, set);
    return set;
  }

  /**
   * A shard a view may fetch: one its current index lists. A shard of a name the view may not
   * install is refused with the policy's reason (403); an unknown or superseded hash is a 404.
   */
  authorizeShard(view: string, channelName: string, subdir: string, hex: string, now = Date.now()): Shard {
    const set = this.shardSet(view, channelName, subdir, now);
    const shard = set.shards.get(hex);
    if (shard) return shard;
    const channel = this.channel(channelName);
    const owner = this.shardOwners.get(hex);
    if (!owner || owner.channel !== channel.name || owner.subdir !== subdir)
      throw errors.notFound(`no shard ${hex} in ${channel.name}/${subdir} here`);
    if (set.byName.has(owner.name)) {
      throw errors.notFound(
        `shard ${hex} of ${owner.name} is no longer current in ${channel.name}/${subdir}; fetch repodata_shards.msgpack.zst again`,
      );
    }
    if (this.policy.activeRules('conda', owner.name, view, new Date(now), channel.name).length === 0)
      throw this.refusal(view, channel.name, owner.name);
    throw errors.blockedByPolicy(
      `no version of ${owner.name} in ${channel.name}/${subdir} is allowed in view ${view} now; run "safelist why ${owner.name} --view ${view}" to see how to request an exception`,
      {
        package: owner.name,
        view,
        channel: channel.name,
        subdir,
      },
    );
  }

  /** channeldata.json: each visible package's subdirs and newest allowed version. */
  channeldata(view: string, channelName: string, now = Date.now()): CondaDocument {
    const cacheKey = `c\0${view}\0${channelName}`;
    const policy = this.policy;
    const channel = this.channel(channelName);
    const hit = this.cache.get(cacheKey);
    if (hit && hit.serial === this.channeldataSerial && hit.policy === policy.fingerprint && now < hit.validUntil) return hit;
    this.requireView(view);
    const subdirs = this.subdirsOf(channel);
    const packages = new Map<string, { subdirs: Set<string>; version: string; timestamp: number }>();
    let validUntil = Infinity;
    for (const subdir of subdirs) {
      const v = this.visible(view, channel.name, subdir, now);
      validUntil = Math.min(validUntil, v.validUntil);
      for (const p of v.packages) {
        const e = packages.get(p.name) ?? { subdirs: new Set<string>(), version: p.version, timestamp: 0 };
        e.subdirs.add(subdir);
        const a = parseCondaVersion(p.version);
        const b = parseCondaVersion(e.version);
        if (a && b && a.compare(b) > 0) e.version = p.version;
        e.timestamp = Math.max(e.timestamp, p.uploadTime ? Math.floor(p.uploadTime.getTime() / 1000) : 0);
        packages.set(p.name, e);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [name, e] of [...packages].sort(([a], [b]) => (a < b ? -1 : 1)))
      out[name] = { subdirs: [...e.subdirs].sort(), version: e.version, timestamp: e.timestamp };
    const body = Buffer.from(JSON.stringify({ channeldata_version: 1, packages: out, subdirs }));
    const doc = documentOf(body, validUntil, policy.fingerprint, this.channeldataSerial);
    this.cache.set(cacheKey, doc);
    return doc;
  }

  /** The package file a view may download, or a SafelistError (404 unknown, 403 refused by policy). */
  authorizeFile(view: string, channelName: string, subdir: string, filename: string): CondaPackage {
    this.requireView(view);
    const channel = this.channel(channelName);
    const p = this.catalog.subdir(channel.name, subdir)?.packages.get(filename);
    if (!p) throw errors.notFound(`no package ${filename} in ${channel.name}/${subdir} here`);
    const d = this.decidePackage(p, view);
    if (!d.allowed)
      throw errors.blockedByPolicy(d.reason, { package: p.name, version: p.version, build: p.build, channel: channel.name, subdir, view });
    if (!p.stored) throw errors.notFound(`${filename} is allowed but not mirrored yet; the next sync fetches it`);
    return p;
  }

  /** Every record of a name in a channel (all subdirs), for explanations. */
  packagesNamed(channelName: string, name: string): CondaPackage[] {
    const out: CondaPackage[] = [];
    for (const s of this.catalog.all())
      if (s.channel === channelName) for (const p of s.packages.values()) if (p.name === name) out.push(p);
    return out;
  }

  refusal(view: string, channelName: string, name: string): SafelistError {
    const d = this.policy.decide({ ecosystem: 'conda', name, version: '0', view, channel: channelName });
    return errors.blockedByPolicy(d.reason, { package: name, view, channel: channelName });
  }

  cacheStats(): { entries: number; bytes: number } {
    return { entries: this.cache.size + this.shardCache.size, bytes: this.cache.calculatedSize + this.shardCache.calculatedSize };
  }
}
