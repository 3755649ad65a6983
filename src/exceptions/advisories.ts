// Known vulnerabilities for triage, from OSV-format advisories (https://ossf.github.io/osv-schema/)
// that Safelist imports from a folder of .json files, a URL to one advisory or an array of
// them, or an OSV ecosystem dump (.zip of JSON files), on a schedule. Triage asks which
// advisories affect the requested versions: explicit `versions` lists and ECOSYSTEM ranges
// (introduced / fixed / last_affected) evaluated in the ecosystem's own version order.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import yauzl from 'yauzl';
import { normalizeProjectName } from '../ecosystems/pypi/names.js';
import type { Db } from '../state/db.js';

/** The part of an OSV record triage reads. */
export interface OsvRecord {
  id: string;
  modified?: string;
  summary?: string;
  details?: string;
  aliases?: string[];
  withdrawn?: string;
  affected?: Array<{
    package?: { ecosystem?: string; name?: string };
    versions?: string[];
    ranges?: Array<{ type?: string; events?: Array<{ introduced?: string; fixed?: string; last_affected?: string; limit?: string }> }>;
  }>;
  database_specific?: { severity?: string };
}

export interface AdvisoryHit {
  id: string;
  summary: string | null;
  aliases: string[];
  severity: string | null;
  /** Which of the considered versions it affects. */
  affects: string[];
  fixed: string[];
}

const OSV_ECOSYSTEM: Record<string, string> = { pypi: 'PyPI' };

function isOsv(v: unknown): v is OsvRecord {
  return typeof v === 'object' && v !== null && typeof (v as OsvRecord).id === 'string' && (v as OsvRecord).id.length < 200;
}

/** Whether `version` is affected according to one `affected` entry (PEP 440 order). */
export function affects(entry: NonNullable<OsvRecord['affected']>[number], version: string): boolean {
  if (entry.versions?.includes(version)) return true;
  if (!validPep440(version)) return false;
  for (const range of entry.ranges ?? []) {
    if (range.type !== 'ECOSYSTEM') continue;
    // Events sorted by version; affected from an "introduced" until the next fixed/last_affected.
    const events = range.events ?? [];
    let inRange = false;
    const points = events
      .map((e) => ({ e, v: e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '' }))
      .filter((p) => p.v === '0' || validPep440(p.v))
      .sort((a, b) => (a.v === '0' ? -1 : b.v === '0' ? 1 : comparePep440(a.v, b.v)));
    for (const { e, v } of points) {
      const cmp = v === '0' ? 1 : comparePep440(version, v);
      if (e.introduced !== undefined && cmp >= 0) inRange = true;
      else if (e.fixed !== undefined && cmp >= 0) inRange = false;
      else if (e.last_affected !== undefined && cmp > 0) inRange = false;
      else if (cmp < 0) break;
    }
    if (inRange) return true;
  }
  return false;
}

export class AdvisoryStore {
  constructor(private readonly db: Db) {}

  async count(): Promise<number> {
    const [r] = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM advisories');
    return Number(r?.n ?? 0);
  }

  /** Imports (upserts) advisories from a folder, a .zip dump, or an http(s) URL. */
  async importFrom(source: string): Promise<{ imported: number; skipped: number }> {
    const records: unknown[] = [];
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok) throw new Error(`advisories: ${source} answered ${res.status}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (source.endsWith('.zip')) records.push(...(await jsonEntriesOfZip(bytes)));
      else records.push(...[JSON.parse(bytes.toString('utf8')) as unknown].flat());
    } else if (source.endsWith('.zip')) {
      records.push(...(await jsonEntriesOfZip(await readFile(source))));
    } else {
      for (const f of (await readdir(source)).filter((n) => n.endsWith('.json')).sort()) {
        records.push(...[JSON.parse(await readFile(join(source, f), 'utf8')) as unknown].flat());
      }
    }
    let imported = 0;
    let skipped = 0;
    await this.db.tx(async (q) => {
      for (const rec of records) {
        if (!isOsv(rec)) {
          skipped++;
          continue;
        }
        const names = new Set<string>();
        for (const a of rec.affected ?? []) {
          const eco = Object.entries(OSV_ECOSYSTEM).find(([, osv]) => osv === a.package?.ecosystem)?.[0];
          if (eco === 'pypi' && a.package?.name) names.add(`pypi:${normalizeProjectName(a.package.name)}`);
        }
        if (!names.size) {
          skipped++;
          continue;
        }
        await q.query(
          `INSERT INTO advisories (id, packages, modified, data) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (id) DO UPDATE SET packages = EXCLUDED.packages, modified = EXCLUDED.modified, data = EXCLUDED.data`,
          [rec.id, [...names], rec.modified ?? null, JSON.stringify(rec)],
        );
        imported++;
      }
    });
    return { imported, skipped };
  }

  /** Advisories that affect any of `versions` of a package (withdrawn ones excluded). */
  async hits(ecosystem: string, name: string, versions: string[]): Promise<AdvisoryHit[]> {
    const osvEco = OSV_ECOSYSTEM[ecosystem];
    if (!osvEco) return [];
    const key = `${ecosystem}:${normalizeProjectName(name)}`;
    const rows = await this.db.query<{ data: OsvRecord | string }>('SELECT data FROM advisories WHERE $1 = ANY(packages) ORDER BY id', [key]);
    const out: AdvisoryHit[] = [];
    for (const row of rows) {
      const rec = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as OsvRecord;
      if (rec.withdrawn) continue;
      const entries = (rec.affected ?? []).filter((a) => a.package?.ecosystem === osvEco && a.package.name && normalizeProjectName(a.package.name) === normalizeProjectName(name));
      const hit = versions.filter((v) => entries.some((e) => affects(e, v)));
      if (!hit.length) continue;
      const fixed = entries.flatMap((e) => (e.ranges ?? []).flatMap((r) => (r.events ?? []).map((ev) => ev.fixed).filter((f): f is string => Boolean(f))));
      out.push({ id: rec.id, summary: rec.summary ?? null, aliases: rec.aliases ?? [], severity: rec.database_specific?.severity ?? null, affects: hit, fixed: [...new Set(fixed)] });
    }
    return out;
  }
}

function jsonEntriesOfZip(bytes: Buffer): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip file'));
      const out: unknown[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!entry.fileName.endsWith('.json') || entry.uncompressedSize > 16 * 1024 * 1024) return zip.readEntry();
        zip.openReadStream(entry, (e2, stream) => {
          if (e2 || !stream) return reject(e2 ?? new Error(`cannot read ${entry.fileName}`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            try {
              out.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch {
              // a malformed entry is skipped, the rest still imports
            }
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
