// The report-file provider: scan reports a pipeline posted for a digest (Trivy JSON), for
// registries without Defender. No report yet is "pending", never clean; the newest report
// for a digest is the one that counts.
import type { Db } from '../../state/db.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../types.js';

export class ReportProvider implements ScanProvider {
  readonly name = 'reports';
  constructor(private readonly db: Db) {}

  async scan(images: ImageRef[]): Promise<Map<string, ScanResult>> {
    const digests = [...new Set(images.map((i) => i.digest))];
    const out = new Map<string, ScanResult>();
    if (!digests.length) return out;
    const rows = await this.db.query<{ digest: string; format: string; findings: Finding[] | string }>(
      'SELECT DISTINCT ON (digest) digest, format, findings FROM gate_reports WHERE digest = ANY($1::text[]) ORDER BY digest, id DESC',
      [digests],
    );
    for (const d of digests)
      out.set(d, { state: 'pending', reason: `no scan report has been posted for ${d} (POST /api/v1/gate/reports/${d})` });
    for (const r of rows) {
      const findings = typeof r.findings === 'string' ? (JSON.parse(r.findings) as Finding[]) : r.findings;
      out.set(r.digest, { state: 'scanned', findings, source: r.format });
    }
    return out;
  }
}
