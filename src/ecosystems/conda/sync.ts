// The conda sync: seeds and maintains curated copies of upstream channels. For every channel
// and subdir (noarch always), it streams the upstream repodata.json through the filter —
// memory bounded by what is kept, never by the upstream's size — records every record of a
// name some view may see (so refusals can be explained), downloads the records some view
// allows, verifies each file against the upstream sha256 and size, and stores it atomically.
// A subdir whose repodata is unreachable or malformed changes nothing: the last good copy
// keeps being served. Records the upstream lists as "removed" stop being served. Idempotent
// and resumable (a stored file is recorded in a batch, see STORED_BATCH; one whose batch was
// lost is downloaded again next time and found already stored); unchanged records are not
// rewritten.
import pLimit from 'p-limit';
import type { Config } from '../../config/schema.js';
import { durationMs } from '../../config/schema.js';
import { blobKeyForSha256 } from '../../catalog/blob-keys.js';
import { storeVerified } from '../../catalog/ingest.js';
import { packageFromRecord, type CondaCatalog, type CondaPackage } from './catalog.js';
import { filterRepodata } from './repodata-filter.js';
import { CondaUpstream } from './upstream.js';
import { UPSTREAM, UpstreamError } from '../../upstream/types.js';
import type { Policy } from '../../policy/decide.js';
import type { Db } from '../../state/db.js';
import { z } from 'zod';
import type { BlobStore } from '../../storage/types.js';
import type { SyncSpec } from '../types.js';
import { condaConfig } from './config.js';

export type CondaSyncEvent =
  | { type: 'subdir'; channel: string; subdir: string; seen: number; kept: number; toFetch: number }
  | { type: 'fetched'; filename: string; size: number; written: boolean }
  | { type: 'failed'; filename: string; error: string }
  | { type: 'warning'; message: string };

export interface CondaSyncReport {
  subdirs: Array<{
    channel: string;
    subdir: string;
    seen: number;
    kept: number;
    toFetch: number;
    present: number;
    withdrawn: number;
    error?: string;
  }>;
  downloaded: number;
  bytes: number;
  failed: Array<{ filename: string; error: string }>;
}

export interface CondaSyncDeps {
  config: Config;
  policy: Policy;
  catalog: CondaCatalog;
  store: BlobStore;
  db: Db;
}

/**
 * Stored files are recorded STORED_BATCH at a time, or STORED_EVERY_MS after the last write if
 * fewer: each write reloads the subdir (every record of it, in this process and on every
 * replica), which costs about as much as 1,000 small downloads on a 100,000-record subdir.
 */
const STORED_BATCH = 1000;
const STORED_EVERY_MS = 10_000;

/**
 * Records stored files in the catalog in batches, one write at a time: a sync of thousands of
 * files would otherwise reload the subdir and notify every replica once per file.
 */
class StoredMarks {
  private pending: CondaPackage[] = [];
  private chain: Promise<void> = Promise.resolve();
  private lastFlush = Date.now();

  constructor(
    private readonly catalog: CondaCatalog,
    private readonly onFailed: (p: CondaPackage, error: string) => void,
  ) {}

  add(p: CondaPackage): void {
    this.pending.push({ ...p, stored: true });
    if (this.pending.length >= STORED_BATCH || Date.now() - this.lastFlush >= STORED_EVERY_MS) void this.flush();
  }

  /** Writes what is pending; resolves when every write so far is done (failures are reported per file). */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.lastFlush = Date.now();
    if (batch.length) {
      this.chain = this.chain.then(() =>
        this.catalog.upsert(batch).catch((err: unknown) => {
          for (const p of batch) this.onFailed(p, `stored, but not recorded in the catalog: ${(err as Error).message}`);
        }),
      );
    }
    return this.chain;
  }
}

/** Allowed in at least one view? (Cool-downs are not applied: the file must be ready when one ends.) */
function wantedSomewhere(policy: Policy, p: CondaPackage): boolean {
  return policy
    .viewNames()
    .some(
      (view) =>
        policy.decide({ ecosystem: 'conda', name: p.name, version: p.version, build: p.build, subdir: p.subdir, channel: p.channel, view })
          .allowed,
    );
}

export async function runCondaSync(
  deps: CondaSyncDeps,
  opts: { dryRun?: boolean; onEvent?: (e: CondaSyncEvent) => void; channels?: string[]; signal?: AbortSignal | undefined } = {},
): Promise<CondaSyncReport> {
  const { config, policy, catalog, store, db } = deps;
  const { signal } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const timeout = durationMs(config.sync.timeout);
  const limit = pLimit(config.sync.concurrency);
  const report: CondaSyncReport = { subdirs: [], downloaded: 0, bytes: 0, failed: [] };
  const work: Array<Promise<void>> = [];
  const marks = new StoredMarks(catalog, (p, error) => {
    report.failed.push({ filename: p.filename, error });
    emit({ type: 'failed', filename: p.filename, error });
  });
  for (const channel of condaConfig.of(config).channels) {
    if (signal?.aborted) break; // told to stop: the files under way end below
    if (opts.channels && !opts.channels.includes(channel.name)) continue;
    const names = policy.namesInScope('conda', new Date(), channel.name);
    if (names.size === 0) {
      emit({ type: 'warning', message: `${channel.name}: no package of this channel is on any allowlist; nothing to sync` });
      continue;
    }
    const upstream = new CondaUpstream(channel, { timeoutMs: timeout, retries: config.sync.retries });
    for (const subdir of [...new Set(['noarch', ...channel.subdirs])]) {
      if (signal?.aborted) break;
      const item: CondaSyncReport['subdirs'][number] = {
        channel: channel.name,
        subdir,
        seen: 0,
        kept: 0,
        toFetch: 0,
        present: 0,
        withdrawn: 0,
      };
      report.subdirs.push(item);
      let packages: CondaPackage[];
      let removed: string[];
      try {
        const repodata = await upstream.index(subdir);
        if (!repodata)
          throw new UpstreamError(
            channel.name,
            UPSTREAM.NOT_FOUND,
            `${channel.name}: upstream error: repodata of ${subdir} answered HTTP 404 at ${upstream.urlOf(subdir, 'repodata.json')}`,
          );
        const { body } = repodata;
        const known = catalog.subdir(channel.name, subdir)?.packages;
        const taken: CondaPackage[] = [];
        const renamed: Array<{ filename: string; error: string }> = [];
        // Each kept record becomes a catalog entry as it comes: the parsed records (the largest
        // copy) are never all held at once. Its URL and withdrawal are settled at the end, as
        // "info" and "removed" may come after "packages".
        const result = await filterRepodata(body, {
          wantName: (n) => names.has(n),
          subdir,
          maxRecordBytes: condaConfig.of(config).maxRecordBytes,
          source: `${channel.name}/${subdir}/repodata.json`,
          onRecord: (r) => {
            const p = packageFromRecord(channel.name, subdir, r.filename, r.record, {
              stored: false,
              source: channel.name,
              sourceUrl: null,
            });
            const old = known?.get(r.filename);
            if (old && old.sha256 !== p.sha256) {
              renamed.push({
                filename: r.filename,
                error: `upstream now announces sha256 ${p.sha256} but ${old.sha256} was recorded; file names are immutable, refusing`,
              });
              return;
            }
            taken.push(old?.stored ? { ...p, stored: true } : p);
          },
        });
        for (const d of result.dropped) emit({ type: 'warning', message: `${channel.name}/${subdir}: ${d.filename} skipped: ${d.reason}` });
        item.seen = result.seen;
        removed = result.removed;
        const withdrawn = new Set(removed);
        for (const f of renamed) if (!withdrawn.has(f.filename)) report.failed.push(f);
        packages = taken.filter((p) => !withdrawn.has(p.filename));
        for (const p of packages) p.sourceUrl = upstream.fileUrl(subdir, p.filename, result.info?.base_url);
      } catch (err) {
        item.error = (err as Error).message;
        report.failed.push({ filename: `${channel.name}/${subdir}/repodata.json`, error: item.error });
        emit({ type: 'failed', filename: `${channel.name}/${subdir}/repodata.json`, error: item.error });
        if (!opts.dryRun) {
          await db.query(
            `INSERT INTO conda_subdirs (channel, subdir, source, last_error, error_at) VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (channel, subdir) DO UPDATE SET last_error = EXCLUDED.last_error, error_at = now()`,
            [channel.name, subdir, channel.url, item.error.slice(0, 2000)],
          );
        }
        continue;
      }
      item.kept = packages.length;
      const fetch: CondaPackage[] = [];
      for (const p of packages) {
        if (!wantedSomewhere(policy, p)) continue;
        if (p.stored && (await store.stat(blobKeyForSha256(p.sha256)))) item.present++;
        else fetch.push(p);
      }
      item.toFetch = fetch.length;
      emit({ type: 'subdir', channel: channel.name, subdir, seen: item.seen, kept: item.kept, toFetch: item.toFetch });
      if (opts.dryRun) continue;
      const known = catalog.subdir(channel.name, subdir)?.packages;
      const changed = packages.filter((p) => known?.get(p.filename)?.record !== p.record);
      // One transaction that tells every replica at COMMIT (a crash after it cannot leave them stale).
      await catalog.writeSubdirs([[channel.name, subdir]], async (q) => {
        await catalog.upsert(changed, q);
        await catalog.forgetUnstored(channel.name, subdir, new Set(packages.map((p) => p.filename)), q);
        item.withdrawn = await catalog.forget(channel.name, subdir, removed, q);
        await q.query(
          `INSERT INTO conda_subdirs (channel, subdir, source, synced_at, records) VALUES ($1, $2, $3, now(), $4)
           ON CONFLICT (channel, subdir) DO UPDATE SET synced_at = now(), records = EXCLUDED.records, source = EXCLUDED.source`,
          [channel.name, subdir, channel.url, packages.length],
        );
      });
      if (item.withdrawn)
        emit({
          type: 'warning',
          message: `${channel.name}/${subdir}: ${item.withdrawn} record(s) withdrawn upstream (listed as removed) are no longer served`,
        });
      for (const p of fetch) {
        work.push(
          limit(async () => {
            if (signal?.aborted) return; // told to stop: no new file
            try {
              const ref = { url: p.sourceUrl ?? upstream.urlOf(subdir, p.filename), filename: p.filename };
              const { body } = await upstream.open(ref, { signal });
              const stored = await storeVerified(store, body, {
                sha256: p.sha256,
                size: p.size,
                what: `${channel.name}/${subdir}/${p.filename}`,
              });
              marks.add(p);
              report.downloaded += stored.written ? 1 : 0;
              report.bytes += stored.written ? stored.size : 0;
              emit({ type: 'fetched', filename: p.filename, size: stored.size, written: stored.written });
            } catch (err) {
              if (signal?.aborted) return; // stopped, not the file's failure: the run ends with the signal's reason
              report.failed.push({ filename: p.filename, error: (err as Error).message });
              emit({ type: 'failed', filename: p.filename, error: (err as Error).message });
            }
          }),
        );
      }
    }
  }
  await Promise.all(work);
  await marks.flush(); // what was stored is recorded, stopped or not
  signal?.throwIfAborted();
  return report;
}

const names = z.array(z.string().min(1).max(200)).max(1000);
const syncParams = z.strictObject({ dryRun: z.boolean().optional(), channels: names.optional() });

/** The `sync:conda` job: the configured channels (or those named), filtered by policy. */
export const condaSyncSpec: SyncSpec = {
  params: syncParams,
  paramsFrom: (c) => ({ dryRun: c.dryRun, ...(c.channels ? { channels: c.channels } : {}) }),
  // Part of a default sync when some allowlist or exception names a conda package.
  inDefaultPlan: (_config, policy) => policy.rules.some((r) => r.ecosystem === 'conda'),
  afterApproval: () => ({}),
  auditDetail: (r) => ({
    downloaded: r.downloaded,
    bytes: r.bytes,
    failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
  }),
  summary(report) {
    const c = report as CondaSyncReport;
    return [JSON.stringify({ conda: { downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length, subdirs: c.subdirs } })];
  },
  eventLine(e) {
    if (e.type !== 'subdir') return undefined;
    const s = e as Extract<CondaSyncEvent, { type: 'subdir' }>;
    return `${s.channel}/${s.subdir}: ${s.seen} upstream record(s), ${s.kept} of allowlisted names, ${s.toFetch} to fetch`;
  },
};
