// The npm sync: for every package some rule names, reads its packument from the configured
// upstream registries (first that has it), records every version (so refusals can be explained),
// and downloads the tarballs some view allows, each verified against the upstream's sha512
// integrity (and sha1 shasum) while it streams into the blob store. Resumable and idempotent: a
// version already stored is skipped, a tarball whose bytes are stored but not recorded is
// re-verified from storage instead of downloaded again. A package whose upstream is unreachable
// or malformed changes nothing: the last good copy keeps being served. Stops when told
// (opts.signal: its job lost its lock): no further package, the transfers under way are cut (no
// partial tarball is stored), and it throws the signal's reason once they have settled.
import pLimit from 'p-limit';
import semver from 'semver';
import { durationMs, type Config } from '../../config/schema.js';
import type { Policy } from '../../policy/decide.js';
import type { BlobStore } from '../../storage/types.js';
import type { NpmCatalog, NpmPackageMeta, NpmVersion } from './catalog.js';
import { blobKeyForSha512, sha512OfIntegrity, VerifyingTarball } from './integrity.js';
import { checkNpmName } from './names.js';
import { NpmUpstream, type UpstreamPackument } from './upstream.js';
import { npmConfig } from './config.js';

/** The progress events every ecosystem's sync speaks (the 'project' one counts tarballs as files). */
export type NpmSyncEvent =
  | { type: 'project'; name: string; upstream: string | null; files: number; toFetch: number; index: number; total: number; error?: string }
  | { type: 'fetched'; filename: string; size: number; written: boolean }
  | { type: 'failed'; filename: string; error: string }
  | { type: 'warning'; message: string };

export interface NpmSyncReport {
  packages: Array<{ name: string; upstream?: string; versions: number; toFetch: number; present: number }>;
  downloaded: number;
  bytes: number;
  failed: Array<{ filename: string; error: string }>;
  /** Names in scope that no upstream has. */
  missing: string[];
}

export interface NpmSyncDeps {
  config: Config;
  policy: Policy;
  catalog: NpmCatalog;
  store: BlobStore;
}

/** Top-level packument fields kept for `npm view` (never URLs that would send a client elsewhere than its own docs). */
const META_FIELDS = ['description', 'license', 'homepage', 'repository', 'bugs', 'keywords', 'author', 'maintainers', 'readme'];
const MAX_TARBALL_BYTES = 2 * 1024 ** 3;

/** The package meta and version records of an upstream packument; versions it cannot use are reported. */
export function readPackument(
  name: string,
  upstream: string,
  doc: UpstreamPackument,
  report: (version: string, problem: string) => void,
): { meta: NpmPackageMeta; versions: NpmVersion[] } {
  const time = doc.time && typeof doc.time === 'object' ? doc.time : {};
  const distTags: Record<string, string> = {};
  for (const [tag, v] of Object.entries(doc['dist-tags'] ?? {})) if (typeof v === 'string') distTags[tag] = v;
  const fields: Record<string, unknown> = {};
  for (const f of META_FIELDS) if (doc[f] !== undefined) fields[f] = doc[f];
  const meta: NpmPackageMeta = {
    distTags,
    ...(typeof time.created === 'string' ? { created: time.created } : {}),
    ...(typeof time.modified === 'string' ? { modified: time.modified } : {}),
    fields,
  };
  const versions: NpmVersion[] = [];
  for (const [version, manifest] of Object.entries(doc.versions ?? {})) {
    const v = versionRecord(name, upstream, version, manifest, time[version]);
    if (typeof v === 'string') report(version, v);
    else versions.push(v);
  }
  return { meta, versions };
}

function versionRecord(name: string, upstream: string, version: string, manifest: unknown, published: unknown): NpmVersion | string {
  if (semver.valid(version) !== version) return `"${version}" is not a semver version`;
  if (typeof manifest !== 'object' || manifest === null) return 'its manifest is not an object';
  const m = manifest as Record<string, unknown>;
  const dist = (m.dist ?? {}) as Record<string, unknown>;
  if (m.version !== version || typeof m.name !== 'string' || m.name.toLowerCase() !== name)
    return 'its manifest names another package or version';
  const integrity = typeof dist.integrity === 'string' ? dist.integrity : null;
  const shasum = typeof dist.shasum === 'string' && /^[0-9a-f]{40}$/i.test(dist.shasum) ? dist.shasum : null;
  const tarball = typeof dist.tarball === 'string' ? dist.tarball : null;
  // dist.tarball and attestations point at the upstream: every download must come through Safelist.
  const ownDist = Object.fromEntries(Object.entries(dist).filter(([k]) => k !== 'tarball' && k !== 'attestations'));
  const time = typeof published === 'string' ? new Date(published) : null;
  return {
    name,
    version,
    manifest: JSON.stringify({ ...m, dist: ownDist }),
    integrity,
    shasum,
    sha512: sha512OfIntegrity(integrity) ?? null,
    sha256: null,
    size: null,
    stored: false,
    source: upstream,
    sourceUrl: tarball,
    uploadTime: time && !Number.isNaN(time.getTime()) ? time : null,
  };
}

/** Allowed in at least one view? (Cool-downs are not applied: the file must be ready when one ends.) */
function wantedSomewhere(policy: Policy, v: NpmVersion): boolean {
  return policy.viewNames().some((view) => policy.decide({ ecosystem: 'npm', name: v.name, version: v.version, view }).allowed);
}

/** Streams a tarball through verification into the store; returns the version with sha256 and size. */
async function fetchTarball(
  store: BlobStore,
  upstream: NpmUpstream,
  v: NpmVersion,
  signal: AbortSignal | undefined,
): Promise<{ version: NpmVersion; written: boolean }> {
  const what = `${v.name}@${v.version}`;
  const key = blobKeyForSha512(v.sha512!);
  const present = await store.stat(key);
  // Bytes stored by an earlier run whose record was lost: verified again from storage, not downloaded.
  const body = present ? await store.get(key) : (await upstream.tarball(v.sourceUrl!, what, signal)).body;
  const verify = new VerifyingTarball(what, { sha512: v.sha512!, shasum: v.shasum, maxBytes: MAX_TARBALL_BYTES });
  body.on('error', (err) => verify.destroy(err));
  if (present) {
    for await (const _chunk of body.pipe(verify)) void _chunk; // hashing only
  } else {
    verify.on('error', () => {}); // the store's put rejects with it (see catalog/ingest.ts)
    await store.put(key, body.pipe(verify));
  }
  return { version: { ...v, sha256: verify.sha256!, size: verify.size, stored: true }, written: !present };
}

export async function runNpmSync(
  deps: NpmSyncDeps,
  opts: { dryRun?: boolean; onEvent?: (e: NpmSyncEvent) => void; only?: string[]; signal?: AbortSignal | undefined } = {},
): Promise<NpmSyncReport> {
  const { signal } = opts;
  const { config, policy } = deps;
  const emit = opts.onEvent ?? (() => undefined);
  const report: NpmSyncReport = { packages: [], downloaded: 0, bytes: 0, failed: [], missing: [] };
  const timeout = durationMs(config.sync.timeout);
  const section = npmConfig.of(config);
  const upstreams = section.upstreams.map((u) => new NpmUpstream(u, timeout, section.maxPackumentBytes));
  const fail = (filename: string, error: string) => {
    report.failed.push({ filename, error });
    emit({ type: 'failed', filename, error });
  };
  if (upstreams.length === 0) {
    emit({ type: 'warning', message: 'npm: no upstream registry is configured (npm.upstreams); nothing to sync' });
    return report;
  }
  const names = [...policy.namesInScope('npm')].filter((n) => !opts.only || opts.only.includes(n)).sort();
  const limit = pLimit(config.sync.concurrency);
  for (const [i, name] of names.entries()) {
    if (signal?.aborted) break; // told to stop: no further package
    if (checkNpmName(name)) continue; // the policy loader already refused it
    const where = { index: i + 1, total: names.length };
    try {
      await syncPackage(deps, upstreams, name, { report, emit, fail, limit, dryRun: opts.dryRun ?? false, signal, ...where });
    } catch (err) {
      if (signal?.aborted) break; // stopped, not the package's failure
      // "name/" stands for the whole package (its packument), as in every sync report.
      fail(`${name}/`, (err as Error).message);
      emit({ type: 'project', name, upstream: null, files: 0, toFetch: 0, ...where, error: (err as Error).message });
    }
  }
  signal?.throwIfAborted();
  return report;
}

interface SyncContext {
  report: NpmSyncReport;
  /** Told to stop (the job lost its lock): no new package or tarball; the transfers under way are cut. */
  signal: AbortSignal | undefined;
  emit: (e: NpmSyncEvent) => void;
  fail: (filename: string, error: string) => void;
  limit: ReturnType<typeof pLimit>;
  dryRun: boolean;
  index: number;
  total: number;
}

async function firstPackument(
  upstreams: NpmUpstream[],
  name: string,
  signal: AbortSignal | undefined,
): Promise<{ upstream: NpmUpstream; doc: UpstreamPackument } | undefined> {
  for (const upstream of upstreams) {
    const doc = await upstream.packument(name, signal);
    if (doc) return { upstream, doc };
  }
  return undefined;
}

async function syncPackage(deps: NpmSyncDeps, upstreams: NpmUpstream[], name: string, ctx: SyncContext): Promise<void> {
  const { catalog, store, policy } = deps;
  const found = await firstPackument(upstreams, name, ctx.signal);
  if (!found) {
    ctx.report.missing.push(name);
    ctx.emit({ type: 'project', name, upstream: null, files: 0, toFetch: 0, index: ctx.index, total: ctx.total });
    return;
  }
  const { upstream, doc } = found;
  const { meta, versions } = readPackument(name, upstream.name, doc, (v, problem) =>
    ctx.emit({ type: 'warning', message: `npm: ${name}@${v} skipped: ${problem}` }),
  );
  const known = catalog.package(name)?.versions;
  const usable: NpmVersion[] = [];
  for (const v of versions) {
    const old = known?.get(v.version);
    if (old && old.integrity !== v.integrity) {
      ctx.fail(
        `${name}@${v.version}`,
        `upstream now announces integrity ${v.integrity} but ${old.integrity} was recorded; npm versions are immutable, refusing`,
      );
      continue;
    }
    usable.push(old?.stored ? { ...v, stored: true, sha256: old.sha256, size: old.size } : v);
  }
  const item = { name, upstream: upstream.name, versions: usable.length, toFetch: 0, present: 0 };
  ctx.report.packages.push(item);
  const fetch: NpmVersion[] = [];
  for (const v of usable) {
    if (!wantedSomewhere(policy, v)) continue;
    if (v.stored && (await store.stat(blobKeyForSha512(v.sha512!)))) item.present++;
    else if (!v.sha512 || !v.sourceUrl)
      ctx.fail(
        `${name}@${v.version}`,
        'the upstream gives no sha512 integrity or no tarball URL; Safelist stores nothing it cannot verify',
      );
    else fetch.push(v);
  }
  item.toFetch = fetch.length;
  ctx.emit({
    type: 'project',
    name,
    upstream: upstream.name,
    files: usable.length,
    toFetch: fetch.length,
    index: ctx.index,
    total: ctx.total,
  });
  if (ctx.dryRun) return;
  // Unchanged packages are not written again: each write reloads the package on every replica.
  const changed = usable.filter((v) => {
    const old = known?.get(v.version);
    return !old || old.manifest !== v.manifest || old.sourceUrl !== v.sourceUrl;
  });
  if (changed.length || JSON.stringify(catalog.package(name)?.meta) !== JSON.stringify(meta))
    await catalog.record(name, upstream.name, meta, changed);
  const stored: NpmVersion[] = [];
  await Promise.all(
    fetch.map((v) =>
      ctx.limit(async () => {
        if (ctx.signal?.aborted) return;
        try {
          const got = await fetchTarball(store, upstream, v, ctx.signal);
          stored.push(got.version);
          ctx.report.downloaded += got.written ? 1 : 0;
          ctx.report.bytes += got.written ? got.version.size! : 0;
          ctx.emit({ type: 'fetched', filename: `${name}@${v.version}`, size: got.version.size!, written: got.written });
        } catch (err) {
          if (ctx.signal?.aborted) return; // stopped, not the tarball's failure: the run ends with the signal's reason
          ctx.fail(`${name}@${v.version}`, (err as Error).message);
        }
      }),
    ),
  );
  if (stored.length) await catalog.markStored(stored);
}

/** What the CLI prints on stdout for a finished run: a dry run's plan, or one JSON summary line. */
export function npmSyncSummary(r: NpmSyncReport, dryRun: boolean): string[] {
  if (!dryRun)
    return [JSON.stringify({ ecosystem: 'npm', downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length, missing: r.missing })];
  const lines = ['npm plan:'];
  for (const p of r.packages)
    lines.push(`  ${p.name} (${p.upstream}): ${p.versions} upstream version(s), fetch ${p.toFetch}, present ${p.present}`);
  for (const m of r.missing) lines.push(`  ${m}: not found on any upstream`);
  return lines;
}
