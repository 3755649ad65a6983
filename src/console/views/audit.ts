// The data of the console's audit page: the trail, newest first, filtered by actor, action,
// subject and time range (validated: a bad date is a 400 that says what to write), paged by
// sequence number; the export comes from the same AuditLog the API and the CLI use; the verify
// page reads the audit:verify job's runs (jobs/runs.ts). It never writes to the trail, never
// computes a hash of its own, and never takes a running run's progress for a verdict.
import { z } from 'zod';
import type { AuditLog, AuditQuery, AuditRecord } from '../../audit/log.js';
import type { JobRunRecord, JobRuns } from '../../jobs/runs.js';
import { errors } from '../../errors.js';
import { parse } from '../../validate.js';

const WHEN = z.union([z.iso.date(), z.iso.datetime({ offset: true }), z.iso.datetime({ local: true })]);
/** A form's date or time field: empty (any), a date, or a time (UTC unless it has an offset). */
const when = z
  .string()
  .max(40)
  .refine((v) => v === '' || WHEN.safeParse(v).success, {
    error: 'a date such as 2026-11-30, or a time such as 2026-11-30T14:05 (UTC) or 2026-11-30T14:05:00+01:00',
  });

export const auditFilterSchema = z.strictObject({
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  subject: z.string().max(300).optional(),
  since: when.optional(),
  until: when.optional(),
  before: z.coerce.number().int().min(1, 'before: a record number (seq) of 1 or more').optional(),
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;

/** A form value as an instant: a date alone is its first moment (or the next day's, for an end), a time without offset is UTC. */
function instant(v: string | undefined, endOfDay: boolean): Date | undefined {
  if (!v) return undefined;
  if (v.length === 10) return new Date(Date.parse(`${v}T00:00:00.000Z`) + (endOfDay ? 86_400_000 : 0));
  return new Date(/[zZ]$|[+-]\d\d:\d\d$/.test(v) ? v : `${v}Z`);
}

export interface AuditPageView {
  filter: AuditFilter;
  /** The filter as the AuditLog takes it (also the export's). */
  query: Omit<AuditQuery, 'limit'>;
  records: AuditRecord[];
  /** The `before` of the next (older) page, when there is one. */
  older: number | undefined;
}

/** Validates the page's query; an until date includes its whole day. */
export function parseAuditFilter(input: unknown): { filter: AuditFilter; query: Omit<AuditQuery, 'limit'> } {
  const raw = parse(auditFilterSchema, input, 'query');
  const filter = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== '' && v !== undefined)) as AuditFilter;
  const since = instant(filter.since, false);
  const until = instant(filter.until, true);
  if (since && until && since >= until)
    throw errors.badRequest(`invalid query: since (${filter.since}) must be before until (${filter.until})`);
  const query: Omit<AuditQuery, 'limit'> = {
    ...(filter.actor ? { actor: filter.actor } : {}),
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.subject ? { subject: filter.subject } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
  return { filter, query };
}

export async function auditPage(audit: AuditLog, input: unknown, pageSize = 50): Promise<AuditPageView> {
  const { filter, query } = parseAuditFilter(input);
  const rows = await audit.query({
    ...query,
    ...(filter.before ? { beforeSeq: filter.before } : {}),
    newestFirst: true,
    limit: pageSize + 1,
  });
  const records = rows.slice(0, pageSize);
  return { filter, query, records, older: rows.length > pageSize ? records[records.length - 1]!.seq : undefined };
}

/** The export URL's query for the same filter (the console's download link). */
export function exportQuery(filter: AuditFilter): string {
  const p = new URLSearchParams();
  for (const k of ['actor', 'action', 'subject', 'since', 'until'] as const) if (filter[k]) p.set(k, filter[k]!);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const VERIFY_JOB = 'audit:verify';

export interface VerifyPageView {
  /** The newest run that finished (done): the verdict shown. */
  verdict: JobRunRecord | undefined;
  /** A run in progress (its heartbeat is fresh): its progress, never a verdict. */
  running: JobRunRecord | undefined;
  /** Runs newer than the verdict that failed or were abandoned (no verdict of theirs). */
  unfinished: JobRunRecord[];
  /** The trail's head now, to say how many records came after the verdict's. */
  head: number;
}

/** The verify page's data: three small reads (job_runs, the head), never the chain itself. */
export async function verifyPage(runs: JobRuns, audit: AuditLog): Promise<VerifyPageView> {
  const [recent, head] = await Promise.all([runs.latest([VERIFY_JOB], 10), audit.head()]);
  const verdictAt = recent.findIndex((r) => r.status === 'done');
  return {
    verdict: verdictAt >= 0 ? recent[verdictAt] : undefined,
    running: recent.find((r) => r.status === 'running'),
    unfinished: recent
      .slice(0, verdictAt >= 0 ? verdictAt : recent.length)
      .filter((r) => r.status === 'failed' || r.status === 'abandoned'),
    head: head?.seq ?? 0,
  };
}
