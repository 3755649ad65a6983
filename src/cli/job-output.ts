// What a CLI command prints for a job: its progress events on stderr and its report on stdout
// (one JSON line, or a plan for dry runs), and the exit code — the same whether the job ran in
// this process or was handed to the server (the server streams the same events and outcome).
import type { IncidentReport } from '../gate/incidents.js';
import type { SyncEvent, SyncReport } from '../sync/pypi-sync.js';
import type { CondaSyncEvent, CondaSyncReport } from '../sync/conda-sync.js';
import type { ImportReport } from '../ecosystems/pypi/importer.js';
import type { CondaImportReport } from '../ecosystems/conda/importer.js';
import type { PublishReport } from '../publish/static.js';
import type { Anchor } from '../audit/log.js';
import type { AcrImportResult } from '../jobs/acr-import.js';
import type { OciSyncResult } from '../jobs/sync.js';
import type { JobEvent, JobOutcome } from '../jobs/types.js';
import { printCondaSyncEvent, printSyncEvent } from './progress.js';
import { npmSyncSummary, type NpmSyncReport } from '../ecosystems/npm/sync.js'; // npm (issue 12)

export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

interface Printer {
  event?(e: JobEvent, io: Io): void;
  /** Prints the report; returns the exit code (0 fine, 1 the job found problems). */
  result?(r: unknown, io: Io, opts: { dryRun: boolean }): number;
}

const json = (io: Io, v: unknown) => io.out.write(`${JSON.stringify(v)}\n`);
const failedLines = (io: Io, failed: Array<{ filename: string; error: string }>) => {
  for (const f of failed) io.err.write(`failed: ${f.filename}: ${f.error}\n`);
  return failed.length ? 1 : 0;
};

function pypiSync(r: SyncReport, io: Io, { dryRun }: { dryRun: boolean }): number {
  if (dryRun) {
    io.out.write('plan:\n');
    for (const p of r.plan) {
      io.out.write(`  ${p.project} (${p.upstream}): fetch ${p.fetch.length}, present ${p.present}, record only ${p.recordOnly}\n`);
      for (const f of p.fetch) io.out.write(`    + ${f.filename}${f.size !== undefined ? ` (${f.size} bytes)` : ''}\n`);
    }
    for (const m of r.missing) io.out.write(`  ${m}: not found on any upstream\n`);
  } else {
    json(io, { downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length, missing: r.missing });
  }
  return failedLines(io, r.failed);
}

function ociSync(r: OciSyncResult, io: Io, { dryRun }: { dryRun: boolean }): number {
  if (dryRun) {
    io.out.write('oci plan:\n');
    for (const i of r.images)
      io.out.write(`  ${i.name} (${i.upstream}): ${i.tags} upstream tag(s), allowed: ${i.synced.join(', ') || 'none'}\n`);
    for (const m of r.missing) io.out.write(`  ${m}: not found upstream\n`);
  } else {
    const synced = r.images.reduce((n, i) => n + i.synced.length, 0);
    const present = r.images.reduce((n, i) => n + i.present.length, 0);
    json(io, {
      ecosystem: 'oci',
      tags: synced,
      present,
      downloaded: r.downloaded,
      bytes: r.bytes,
      failed: r.failed.length,
      missing: r.missing,
    });
  }
  return failedLines(io, r.failed);
}

function acrImport(r: AcrImportResult, io: Io): number {
  for (const p of r.problems) io.err.write(`problem: ${p}\n`);
  if (r.dryRun) {
    for (const t of r.todo) io.out.write(`  ${t.source} -> ${t.target}\n`);
    io.out.write(`${r.todo.length} to import, ${r.total - r.todo.length} already in ${r.registry} at the same digest\n`);
    return r.problems.length ? 1 : 0;
  }
  json(io, { imported: r.imported.length, unchanged: r.unchanged, failed: r.failed.length });
  return r.failed.length || r.problems.length ? 1 : 0;
}

function skippedLines(io: Io, skipped: Array<{ path: string; reason: string }>): number {
  for (const s of skipped) io.err.write(`skipped ${s.path}: ${s.reason}\n`);
  return skipped.length ? 1 : 0;
}

const line: Printer['event'] = (e, io) => {
  if (e.type === 'line') io.err.write(`${String(e.line)}\n`);
};

const printers: Record<string, Printer> = {
  sync: {},
  'sync:pypi': { event: (e, io) => printSyncEvent(e as SyncEvent, io.err), result: (r, io, o) => pypiSync(r as SyncReport, io, o) },
  'sync:conda': {
    event: (e, io) => printCondaSyncEvent(e as CondaSyncEvent, io.err),
    result: (r, io) => {
      const c = r as CondaSyncReport;
      json(io, { conda: { downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length, subdirs: c.subdirs } });
      return failedLines(io, c.failed);
    },
  },
  'sync:oci': { event: (e, io) => printSyncEvent(e as SyncEvent, io.err), result: (r, io, o) => ociSync(r as OciSyncResult, io, o) },
  // npm (issue 12): its sync speaks the shared progress events.
  'sync:npm': {
    event: (e, io) => printSyncEvent(e as SyncEvent, io.err),
    result: (r, io, o) => {
      for (const l of npmSyncSummary(r as NpmSyncReport, o.dryRun)) io.out.write(`${l}\n`);
      return failedLines(io, (r as NpmSyncReport).failed);
    },
  },
  'import:pypi': {
    event: line,
    result: (r, io) => {
      const i = r as ImportReport;
      const code = skippedLines(io, i.skipped);
      json(io, { imported: i.imported.length, skipped: i.skipped.length });
      return code;
    },
  },
  'import:conda': {
    event: line,
    result: (r, io) => {
      const i = r as CondaImportReport & { channel: string };
      const code = skippedLines(io, i.skipped);
      json(io, { channel: i.channel, imported: i.imported.length, skipped: i.skipped.length });
      return code;
    },
  },
  'acr-import': {
    event: (e, io) => {
      if (e.type === 'importing') io.err.write(`[${String(e.index)}/${String(e.total)}] ${String(e.image)} (${String(e.digest)})\n`);
      if (e.type === 'failed') io.err.write(`  FAILED ${String(e.image)}: ${String(e.error)}\n`);
    },
    result: (r, io) => acrImport(r as AcrImportResult, io),
  },
  publish: { result: (r, io) => (json(io, r as PublishReport), 0) },
  'advisories:import': {
    event: (e, io) => {
      if (e.type === 'warning') io.err.write(`${String(e.message)}\n`);
      if (e.type === 'rejudge') io.err.write(`judging again (contains a malicious package): ${String(e.image)}\n`);
    },
    result: (r, io) => {
      const a = r as {
        sources: Array<{ source: string; imported?: number; skipped?: number; problems?: unknown[]; error?: string }>;
        malwareBlocked: string[];
        rejudged?: unknown[];
      };
      json(io, {
        sources: a.sources.map((s) => ({ ...s, problems: s.problems?.length ?? 0 })),
        malwareBlocked: a.malwareBlocked,
        rejudged: a.rejudged?.length ?? 0,
      });
      // The problems themselves were printed as warnings, each with its path.
      return a.sources.some((s) => s.error || s.problems?.length) ? 1 : 0;
    },
  },
  'incident:report': { result: (r, io) => printIncident(r as IncidentReport, io) },
  'audit:anchor': {
    result: (r, io) => {
      const a = (r as { anchor: Anchor | null }).anchor;
      io.out.write(a ? `anchored record ${a.seq} ${a.hash}\n` : 'nothing new to anchor\n');
      return 0;
    },
  },
};

/** `safelist incident`: who downloaded the version, and which images contain it; exit 0. */
function printIncident(r: IncidentReport, io: Io): number {
  const w = (line: string) => io.out.write(`${line}\n`);
  w(
    `${r.ecosystem} ${r.name} ${r.version}: ${r.malware.length ? `blocked as malicious (${r.malware.join(', ')})` : 'not blocked as malicious'}`,
  );
  w(`downloads: ${r.downloads.length ? '' : 'none recorded'}`);
  for (const d of r.downloads)
    w(
      `  view ${d.view}  identity ${d.identity ? `${d.identity.name} (${d.identity.oid})` : 'anonymous'}  first ${d.first}  last ${d.last}  count ${d.count}`,
    );
  w(`images containing it: ${r.images.length ? '' : 'none recorded'}`);
  for (const i of r.images)
    w(`  ${i.registry}/${i.repository}@${i.digest}  ${i.state}${i.decidedAt ? ` (decided ${i.decidedAt})` : ''}  ${i.paths.join(' ')}`);
  return 0;
}

/** Prints a job's outcome; returns the exit code. */
export function printOutcome(job: string, o: JobOutcome, io: Io, opts: { dryRun: boolean }): number {
  if (o.status === 'busy') {
    io.err.write(
      `safelist: ${job} is already running (lock "${o.lock}" is held by another run, here or on another replica); try again when it has finished\n`,
    );
    return 1;
  }
  if (o.status === 'failed') {
    io.err.write(`safelist: ${o.error}\n`);
    return 2;
  }
  return printers[job]?.result?.(o.result, io, opts) ?? 0;
}

/**
 * Follows one run's stream: events printed as they come, each part's outcome (a composite job's
 * "finished" events) and the final one printed; the exit code is the worst of them.
 */
export class JobPrinter {
  private code = 0;
  constructor(
    private readonly io: Io,
    private readonly opts: { dryRun: boolean },
  ) {}

  event(job: string, e: JobEvent): void {
    if (e.type === 'finished') this.code = Math.max(this.code, printOutcome(job, e.outcome as JobOutcome, this.io, this.opts));
    else printers[job]?.event?.(e, this.io);
  }

  outcome(job: string, o: JobOutcome): number {
    return Math.max(this.code, printOutcome(job, o, this.io, this.opts));
  }
}
