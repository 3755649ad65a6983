// The report-file provider: scan reports a pipeline posted for a digest (Trivy JSON), for
// registries without Defender. No report yet is "pending", never clean; the newest report
// for a digest is the one that counts. A stored report whose findings are not findings (a
// damaged row, a row an older version wrote differently) is an error for its digest, and a
// database that cannot be asked is an error for every digest: never read as clean.
import { z } from 'zod';
import type { Db } from '../../state/db.js';
import { SEVERITIES, type Finding, type ImageRef, type ScanProvider, type ScanResult } from '../types.js';

/** What a stored finding must hold for the policy to judge it; other members are kept as they are. */
const storedFindings = z.array(
  z.looseObject({
    id: z.string().min(1),
    severity: z.enum(SEVERITIES),
    package: z.string(),
    installedVersion: z.string(),
    fixable: z.boolean(),
    source: z.string(),
  }),
);

export class ReportProvider implements ScanProvider {
  readonly name = 'reports';
  constructor(private readonly db: Db) {}

  async scan(images: ImageRef[]): Promise<Map<string, ScanResult>> {
    const digests = [...new Set(images.map((i) => i.digest))];
    const out = new Map<string, ScanResult>();
    if (!digests.length) return out;
    let rows: Array<{ digest: string; format: string; findings: unknown }>;
    try {
      rows = await this.db.query<{ digest: string; format: string; findings: unknown }>(
        'SELECT DISTINCT ON (digest) digest, format, findings FROM gate_reports WHERE digest = ANY($1::text[]) ORDER BY digest, id DESC',
        [digests],
      );
    } catch (err) {
      for (const d of digests) out.set(d, { state: 'error', reason: `cannot read posted scan reports: ${(err as Error).message}` });
      return out;
    }
    for (const d of digests)
      out.set(d, { state: 'pending', reason: `no scan report has been posted for ${d} (POST /api/v1/gate/reports/${d})` });
    for (const r of rows) out.set(r.digest, readStored(r));
    return out;
  }
}

/** One stored report as a result: its findings, or an error saying what is wrong with it. */
function readStored(r: { digest: string; format: string; findings: unknown }): ScanResult {
  let raw = r.findings;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      raw = undefined;
    }
  }
  const parsed = storedFindings.safeParse(raw);
  if (!parsed.success)
    return {
      state: 'error',
      reason: `the newest ${r.format} report stored for ${r.digest} is not a list of findings (${parsed.error.issues[0]?.message ?? 'unreadable'}); post the report again`,
    };
  return { state: 'scanned', findings: parsed.data as Finding[], source: r.format };
}
