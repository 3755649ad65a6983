// The data of the console's audit page: the trail, newest first, filtered by actor, action,
// subject and time range (validated: a bad date is a 400 that says what to write), paged by
// sequence number; the verify report and the export come from the same AuditLog the API and
// the CLI use. It never writes to the trail nor computes a hash of its own.
import { z } from 'zod';
import type { AuditLog, AuditQuery, AuditRecord } from '../../audit/log.js';
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
