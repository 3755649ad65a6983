// What a CLI command prints for a job: its progress events on stderr and its report on stdout
// (one JSON line, or a plan for dry runs), and the exit code — the same whether the job ran in
// this process or was handed to the server (the server streams the same events and outcome).
import type { ImageIncidentReport } from '../gate/image-incidents.js';
import type { IncidentReport } from '../gate/incidents.js';
import { ecosystems } from '../ecosystems/index.js';
import type {
  EcosystemModule,
  ImportReportBase,
  ImportSpec,
  ModuleJobSpec,
  SyncEvent,
  SyncReportBase,
  SyncSpec,
} from '../ecosystems/types.js';
import type { PublishReport } from '../publish/static.js';
import type { Anchor } from '../audit/log.js';
import { moduleJobSpecs } from '../jobs/module-jobs.js';
import type { AuditVerifyResult } from '../jobs/maintenance.js';
import type { JobEvent, JobOutcome } from '../jobs/types.js';
import { printSyncEvent } from './progress.js';

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

/** `sync:<id>`: the module's own event lines and summary; the shared sync events printed alike. */
function syncPrinter(spec: SyncSpec): Printer {
  return {
    event: (e, io) => {
      const own = spec.eventLine?.(e);
      if (own !== undefined) io.err.write(`${own}\n`);
      else printSyncEvent(e as SyncEvent, io.err);
    },
    result: (r, io, { dryRun }) => {
      for (const l of spec.summary(r as SyncReportBase, dryRun)) io.out.write(`${l}\n`);
      return failedLines(io, (r as SyncReportBase).failed);
    },
  };
}

/** `import:<id>`: progress lines, then each skipped file on stderr and one JSON summary line. */
function importPrinter(spec: ImportSpec): Printer {
  return {
    event: line,
    result: (r, io) => {
      const i = r as ImportReportBase;
      const code = skippedLines(io, i.skipped);
      json(io, spec.summary(i));
      return code;
    },
  };
}

/** Every registered ecosystem's sync and import printers, by job name. */
function ecosystemPrinters(modules: Iterable<EcosystemModule>): Record<string, Printer> {
  const out: Record<string, Printer> = {};
  for (const m of modules) {
    if (m.sync) out[`sync:${m.id}`] = syncPrinter(m.sync);
    if (m.importer) out[`import:${m.id}`] = importPrinter(m.importer);
  }
  return out;
}

/** A module's own job (the ACR import): its event lines and report, as its spec words them. */
function moduleJobPrinter(spec: ModuleJobSpec): Printer {
  return {
    event: (e, io) => {
      const l = spec.eventLine?.(e);
      if (l !== undefined) io.err.write(`${l}\n`);
    },
    result: (r, io) => {
      const { out, err, exit } = spec.report(r);
      for (const l of err) io.err.write(`${l}\n`);
      for (const l of out) io.out.write(`${l}\n`);
      return exit;
    },
  };
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
  ...ecosystemPrinters(ecosystems.values()),
  ...Object.fromEntries([...moduleJobSpecs].map(([name, spec]) => [name, moduleJobPrinter(spec)])),
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
  'incident:report': {
    result: (r, io) =>
      'image' in (r as object) ? printImageIncident(r as ImageIncidentReport, io) : printIncident(r as IncidentReport, io),
  },
  'audit:verify': {
    event: (e, io) => {
      if (e.type === 'checked' && Number(e.index) > 0) io.err.write(`checked ${String(e.index)} of ${String(e.total)} record(s)\n`);
    },
    result: (r, io) => {
      const v = r as AuditVerifyResult;
      io.out.write(`${v.records} record(s), ${v.anchors} anchor(s), head ${v.headHash ? `${v.head} ${v.headHash}` : 'none'}\n`);
      for (const p of v.failed) io.out.write(`BROKEN ${p.kind} at record ${p.seq}: ${p.error}\n`);
      io.out.write(v.ok ? 'audit log verified: intact\n' : `audit log verification FAILED: ${v.failed.length} problem(s)\n`);
      return v.ok ? 0 : 1;
    },
  },
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

/** `safelist incident IMAGE`: who pulled it through /v2, and what the gate decided about its digest; exit 0. */
function printImageIncident(r: ImageIncidentReport, io: Io): number {
  const w = (line: string) => io.out.write(`${line}\n`);
  w(`image ${r.image}: ${r.digests.length ? r.digests.join(', ') : 'no digest known for it'}`);
  w(`pulls: ${r.pulls.length ? '' : 'none recorded'}`);
  for (const p of r.pulls)
    w(
      `  view ${p.view}  identity ${p.identity ? `${p.identity.name} (${p.identity.oid})` : 'anonymous'}  ${p.repository} ${p.references.join(' ')}  first ${p.first}  last ${p.last}  count ${p.count}`,
    );
  w(
    `gate: ${r.gate.length ? r.gate.map((g) => `${g.registry}/${g.repository} ${g.state}${g.purged ? ` (${g.purged})` : ''}`).join('; ') : 'never seen by the gate'}`,
  );
  for (const v of r.verdicts)
    w(`  ${v.at}  ${v.action}${v.outcome ? ` ${v.outcome}` : ''}  ${v.subject}${v.reasons?.length ? `  ${v.reasons.join('; ')}` : ''}`);
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
