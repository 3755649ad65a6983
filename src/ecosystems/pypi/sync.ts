// The PyPI sync: the job that seeds and maintains private storage. For every project some
// view may see, it reads the upstream index, records every file (so refused versions can be
// explained), downloads the allowed ones with bounded concurrency, verifies each against the
// upstream sha256 while it streams into storage, and stores it atomically. Idempotent (stored
// files are skipped) and resumable (each file is committed on its own). Never stores a file it
// could not verify, and never writes outside the blob store (no temporary files; it only
// removes what killed syncs of earlier versions left in the temp folder). Relays the upstream's
// PEP 792 project status to the catalog, and fetches nothing of a project quarantined upstream.
// Stops when told (opts.signal: its job lost its lock): no further project or file, transfers
// in flight end, and it throws the signal's reason once the files under way have settled.
import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Config } from '../../config/schema.js';
import { durationMs } from '../../config/schema.js';
import { storeBuffer, storeVerified } from '../../catalog/ingest.js';
import type { PypiCatalog, PypiFile } from './catalog.js';
import { parseCoreMetadata, readStoredWheelMetadata } from './metadata.js';
import { normalizeProjectName } from './names.js';
import { PypiUpstream, type UpstreamFile } from './upstream.js';
import type { Policy } from '../../policy/decide.js';
import type { BlobStore } from '../../storage/types.js';
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import { z } from 'zod';
import type { SyncEvent, SyncSpec } from '../types.js';
import { pypiConfig } from './config.js';

export type { SyncEvent };

export interface SyncPlanItem {
  project: string;
  upstream: string | null;
  /** Files to download (allowed in some view, not stored yet). */
  fetch: UpstreamFile[];
  /** Files recorded but not downloaded (no view allows them). */
  recordOnly: number;
  present: number;
}

export interface SyncReport {
  plan: SyncPlanItem[];
  downloaded: number;
  bytes: number;
  failed: Array<{ filename: string; error: string }>;
  missing: string[];
}

export interface PypiSyncDeps {
  config: Config;
  policy: Policy;
  catalog: PypiCatalog;
  store: BlobStore;
}

/** Allowed in at least one view? (Cool-downs are ignored: the file must be ready when it ends.) */
function wantedSomewhere(policy: Policy, project: string, version: string): boolean {
  return policy.viewNames().some((view) => policy.decide({ ecosystem: 'pypi', name: project, version, view }).allowed);
}

function record(
  project: string,
  displayName: string,
  f: UpstreamFile,
  upstream: string,
  stored: boolean,
  metadataSha256: string | null,
): PypiFile {
  return {
    sha256: f.sha256!,
    project,
    displayName,
    version: f.version,
    filename: f.filename,
    size: f.size ?? 0,
    requiresPython: f.requiresPython,
    uploadTime: f.uploadTime,
    yanked: f.yanked,
    metadataSha256,
    stored,
    metadataStored: stored && metadataSha256 !== null,
    source: upstream,
    sourceUrl: f.url,
  };
}

export async function runPypiSync(
  deps: PypiSyncDeps,
  opts: { dryRun?: boolean; onEvent?: (e: SyncEvent) => void; only?: string[]; signal?: AbortSignal | undefined } = {},
): Promise<SyncReport> {
  const { config, policy, catalog, store } = deps;
  const { signal } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const timeout = durationMs(config.sync.timeout);
  const upstreams = pypiConfig.of(config).upstreams.map((u) => new PypiUpstream(u, { timeoutMs: timeout, retries: config.sync.retries }));
  const names = [...(opts.only?.map(normalizeProjectName) ?? policy.namesInScope('pypi'))].sort();
  const report: SyncReport = { plan: [], downloaded: 0, bytes: 0, failed: [], missing: [] };
  const swept = await removeLegacyTempFolders();
  if (swept)
    emit({
      type: 'warning',
      message: `removed ${swept} temporary folder(s) (${tmpdir()}/${LEGACY_TMP_PREFIX}*) left by interrupted syncs of an earlier version`,
    });
  if (upstreams.length === 0) {
    emit({ type: 'warning', message: 'no PyPI upstream is configured (pypi.upstreams); nothing to sync' });
    return report;
  }
  const limit = pLimit(config.sync.concurrency);
  const work: Array<Promise<void>> = [];
  let index = 0;
  // Project pages are read with the same bound as downloads.
  const pages = await Promise.all(
    names.map((name) =>
      limit(async () => {
        if (signal?.aborted) return { name, upstream: undefined, page: undefined }; // stopping: the loop below ends at once
        // First upstream that has the project wins; later ones are never mixed in (dependency confusion).
        for (const u of upstreams) {
          try {
            const page = await u.index(name);
            if (page) return { name, upstream: u, page };
          } catch (err) {
            // Not "missing": an unreachable or failing upstream says so, with its cause, and
            // later upstreams are not asked (that could serve another project of that name).
            return { name, upstream: u, page: undefined, error: (err as Error).message };
          }
        }
        return { name, upstream: undefined, page: undefined };
      }),
    ),
  );
  for (const { name, upstream, page, error } of pages as Array<{
    name: string;
    upstream: PypiUpstream | undefined;
    page: Awaited<ReturnType<PypiUpstream['index']>>;
    error?: string;
  }>) {
    if (signal?.aborted) break; // told to stop: no further project (the files under way end below)
    index++;
    if (!upstream || !page) {
      if (!error) report.missing.push(name);
      emit({ type: 'project', name, upstream: null, files: 0, toFetch: 0, index, total: names.length, ...(error ? { error } : {}) });
      if (error) report.failed.push({ filename: `${name}/`, error });
      continue;
    }
    const quarantined = page.status?.status === 'quarantined';
    if (quarantined)
      emit({
        type: 'warning',
        message: `${upstream.name}: ${name} is quarantined upstream${page.status?.reason ? ` (${page.status.reason})` : ''}; none of its files is fetched or served`,
      });
    if (!opts.dryRun) await catalog.setUpstreamStatus(name, page.status, upstream.name);
    const item: SyncPlanItem = { project: name, upstream: upstream.name, fetch: [], recordOnly: 0, present: 0 };
    const records: PypiFile[] = [];
    const displayName = name;
    for (const f of page.files) {
      if (!f.sha256) {
        emit({
          type: 'warning',
          message: `${upstream.name}: ${f.filename} has no sha256 in the upstream index; skipped (cannot be verified)`,
        });
        continue;
      }
      const known = catalog.fileByName(name, f.filename);
      if (known && known.sha256 !== f.sha256) {
        report.failed.push({
          filename: f.filename,
          error: `upstream now announces sha256 ${f.sha256} but ${known.sha256} was recorded; file names are immutable, refusing`,
        });
        continue;
      }
      if (known?.stored && (await store.stat(blobKeyForSha256(known.sha256)))) {
        item.present++;
        continue;
      }
      if (!quarantined && wantedSomewhere(policy, name, f.version)) item.fetch.push(f);
      else {
        item.recordOnly++;
        if (!known)
          records.push(record(name, displayName, f, upstream.name, false, typeof f.coreMetadata === 'string' ? f.coreMetadata : null));
      }
    }
    report.plan.push(item);
    emit({
      type: 'project',
      name,
      upstream: upstream.name,
      files: page.files.length,
      toFetch: item.fetch.length,
      index,
      total: names.length,
    });
    if (opts.dryRun) continue;
    if (records.length) await catalog.upsert(records);
    for (const f of item.fetch) {
      work.push(
        limit(async () => {
          if (signal?.aborted) return; // told to stop: no new file
          try {
            const r = await fetchFile(upstream, store, f, signal);
            const rec = record(name, displayName, f, upstream.name, true, r.metadataSha256);
            await catalog.upsert([{ ...rec, size: r.size, requiresPython: rec.requiresPython ?? r.requiresPython }]);
            report.downloaded += r.written ? 1 : 0;
            report.bytes += r.written ? r.size : 0;
            emit({ type: 'fetched', filename: f.filename, size: r.size, written: r.written });
          } catch (err) {
            if (signal?.aborted) return; // stopped, not the file's failure: the run ends with the signal's reason
            report.failed.push({ filename: f.filename, error: (err as Error).message });
            emit({ type: 'failed', filename: f.filename, error: (err as Error).message });
          }
        }),
      );
    }
  }
  await Promise.all(work);
  signal?.throwIfAborted();
  return report;
}

// One pass over the bytes: they are hashed while they stream into storage (the put commits
// only if the sha256 matches, so a mismatch leaves nothing visible), with the stream's
// backpressure bounding what is in flight. A wheel whose upstream offers no hashed PEP 658
// file gets its METADATA from the stored object by range reads of the zip central directory,
// byte-identical to the wheel's. No temporary files, so a killed sync leaves none behind.
async function fetchFile(
  upstream: PypiUpstream,
  store: BlobStore,
  f: UpstreamFile,
  signal: AbortSignal | undefined,
): Promise<{ size: number; written: boolean; metadataSha256: string | null; requiresPython: string | null }> {
  const sha256 = f.sha256!;
  const isWheel = f.filename.endsWith('.whl');
  const { body } = await upstream.open({ url: f.url }, { signal });
  const stored = await storeVerified(store, body, { sha256, ...(f.size !== undefined ? { size: f.size } : {}), what: f.filename });
  if (!isWheel) return { size: stored.size, written: stored.written, metadataSha256: null, requiresPython: null };
  if (typeof f.coreMetadata === 'string') {
    const m = await upstream.open({ url: `${f.url}.metadata` }, { signal });
    const meta = await storeVerified(store, m.body, { sha256: f.coreMetadata, what: `${f.filename}.metadata`, maxBytes: 16 * 1024 * 1024 });
    return { size: stored.size, written: stored.written, metadataSha256: meta.sha256, requiresPython: null };
  }
  const distName = f.filename.split('-')[0]!;
  const meta = await readStoredWheelMetadata(store, blobKeyForSha256(sha256), stored.size, distName, f.version);
  const metadataSha256 = (await storeBuffer(store, meta, `${f.filename}.metadata`)).sha256;
  // An HTML upstream may not announce Requires-Python; the wheel does.
  return { size: stored.size, written: stored.written, metadataSha256, requiresPython: parseCoreMetadata(meta).requiresPython ?? null };
}

// Versions before 2026-11-30 downloaded wheels without upstream metadata into
// <tmpdir>/safelist-sync-* and left the folder behind when killed. Nothing creates them any
// more; a day-old one belongs to no live process.
const LEGACY_TMP_PREFIX = 'safelist-sync-';
const LEGACY_TMP_AGE_MS = 24 * 3600_000;

async function removeLegacyTempFolders(now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(LEGACY_TMP_PREFIX)) continue;
    const path = join(tmpdir(), name);
    const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined; // removed meanwhile
      throw err;
    });
    if (s?.isDirectory() && now - s.mtimeMs > LEGACY_TMP_AGE_MS) {
      await rm(path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

const names = z.array(z.string().min(1).max(200)).max(1000);
const syncParams = z.strictObject({ dryRun: z.boolean().optional(), projects: names.optional() });

/** The `sync:pypi` job: the projects in scope (or those named), from the configured upstreams. */
export const pypiSyncSpec: SyncSpec = {
  params: syncParams,
  paramsFrom: (c) => ({ dryRun: c.dryRun, ...(c.names ? { projects: c.names } : {}) }),
  // PyPI is always part of a default sync.
  inDefaultPlan: () => true,
  afterApproval: (config, name) => (pypiConfig.of(config).upstreams.length ? { projects: [name] } : undefined),
  auditDetail: (r, p) => ({
    downloaded: r.downloaded,
    bytes: r.bytes,
    failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
    missing: r.missing,
    ...(p.projects ? { projects: p.projects } : {}),
  }),
  summary(report, dryRun) {
    const r = report as SyncReport;
    if (!dryRun) return [JSON.stringify({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length, missing: r.missing })];
    const lines = ['plan:'];
    for (const p of r.plan) {
      lines.push(`  ${p.project} (${p.upstream}): fetch ${p.fetch.length}, present ${p.present}, record only ${p.recordOnly}`);
      for (const f of p.fetch) lines.push(`    + ${f.filename}${f.size !== undefined ? ` (${f.size} bytes)` : ''}`);
    }
    for (const m of r.missing) lines.push(`  ${m}: not found on any upstream`);
    return lines;
  },
};
