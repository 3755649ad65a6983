// Known vulnerabilities for triage, from OSV-format advisories (https://ossf.github.io/osv-schema/)
// that Safelist imports from a folder of .json files, a URL to one advisory or an array of
// them, or an OSV ecosystem dump (.zip of JSON files), on a schedule. Triage asks which
// advisories affect the requested versions: explicit `versions` lists and ECOSYSTEM ranges
// (introduced / fixed / last_affected) evaluated in the ecosystem's own version order.
// Records with MAL- ids (the OpenSSF malicious-packages format) also become malware rules of
// the policy: importing one notifies every replica to reload, and no exception overrides it.
// A file that is malformed or larger than the limit is reported with its path and skipped; a
// source imports in one transaction, so a failure leaves nothing of it half-imported.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import yauzl from 'yauzl';
import { z } from 'zod';
import { POLICY_CHANNEL } from '../catalog/changes.js';
import { ecosystems, grammars } from '../ecosystems/index.js';
import type { OsvAdvisory } from '../ecosystems/types.js';
import type { Ecosystem, Rule } from '../policy/types.js';
import type { Db } from '../state/db.js';

/** The part of an OSV record triage, malware rules and npm's audit endpoint read. */
export interface OsvRecord extends OsvAdvisory {
  modified?: string;
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

/** Whether one `affected` entry covers a version, in the ecosystem's own order (npm: semver), PEP 440 by default. */
function affectsIn(ecosystem: string, entry: AffectedEntry, version: string): boolean {
  const own = ecosystems.get(ecosystem)?.names.osvAffects;
  return own ? own(entry, version) : affects(entry, version);
}

/** Each registered ecosystem's OSV ecosystem name (as OSV spells it), by ecosystem id. */
const OSV_ECOSYSTEM: Record<string, string> = Object.fromEntries(
  [...ecosystems.values()].flatMap((m) => (m.names.osv ? [[m.id, m.names.osv]] : [])),
);

/** The ecosystems the policy serves, by OSV ecosystem name in lower case. */
const POLICY_ECOSYSTEMS: Record<string, Ecosystem> = Object.fromEntries(Object.entries(OSV_ECOSYSTEM).map(([id, osv]) => [osv.toLowerCase(), id]));

/** OSV ecosystem names (lower case) imported, and the key prefix each is stored under: every registered ecosystem OSV names. */
const IMPORTED_ECOSYSTEMS: Record<string, string> = POLICY_ECOSYSTEMS;

/** The name as stored in `packages` keys: each ecosystem's own normalisation (npm: lower case). */
function packageKey(osvEcosystem: string | undefined, name: string | undefined): string | undefined {
  const eco = IMPORTED_ECOSYSTEMS[(osvEcosystem ?? '').toLowerCase()];
  if (!eco || !name) return undefined;
  const g = grammars[eco];
  return `${eco}:${g ? g.normalizeName(name) : name.toLowerCase()}`;
}

/** An advisory file that was not imported, and why. */
export interface ImportProblem {
  path: string;
  message: string;
}

export interface ImportReport {
  imported: number;
  /** Records read but not about a package Safelist imports advisories for. */
  skipped: number;
  /** Files refused (malformed, too large, not an OSV record): each skipped, the rest imported. */
  problems: ImportProblem[];
  /** MAL- records new or changed by this import (not withdrawn): what now blocks. */
  malware: string[];
  /** Whether malware rules changed at all (withdrawals included): the policy was told to reload. */
  malwareChanged: boolean;
}

export const DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024;

type Entry = { path: string; record: unknown };

/** The shape of the parts Safelist reads; anything else in a record is kept as it is. */
const osvSchema = z.looseObject({
  id: z.string().min(1).max(200),
  modified: z.string().optional(),
  summary: z.string().optional(),
  withdrawn: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  affected: z
    .array(
      z.looseObject({
        package: z.looseObject({ ecosystem: z.string().optional(), name: z.string().optional() }).optional(),
        versions: z.array(z.string()).optional(),
        ranges: z.array(z.looseObject({ type: z.string().optional(), events: z.array(z.record(z.string(), z.string())).optional() })).optional(),
      }),
    )
    .optional(),
});

/** Why a parsed value is not an OSV record Safelist can read. */
function osvProblem(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `not an OSV record: ${issue.path.join('.') || '(record)'}: ${issue.message}`;
}

type AffectedEntry = NonNullable<OsvRecord['affected']>[number];
type RangeEvent = { introduced?: string; fixed?: string; last_affected?: string; limit?: string };

/** A version as compared when PEP 440 cannot read one side: trimmed, lower case, no leading "v". */
function looseVersion(v: string): string {
  return v.trim().toLowerCase().replace(/^v(?=\d)/, '');
}

/** Equal as PEP 440 versions when both parse ("1.0" is "1.0.0"), else as normalised strings. */
function sameVersion(a: string, b: string): boolean {
  if (validPep440(a) && validPep440(b)) return comparePep440(a, b) === 0;
  return looseVersion(a) === looseVersion(b);
}

/**
 * Whether `version` is affected according to one `affected` entry (PEP 440 order). Fails
 * closed where PEP 440 cannot read a version: one a list or a range names as affected is
 * matched as written; a range whose start cannot be read starts at 0, an end that cannot be
 * read does not end it; a version that cannot be ordered is inside every range that has a start.
 */
export function affects(entry: AffectedEntry, version: string): boolean {
  if (entry.versions?.some((v) => sameVersion(v, version))) return true;
  // "Every version" needs no version order (conda versions are not all PEP 440).
  if (entry.ranges?.some((r) => r.type !== 'GIT' && (r.events ?? []).length > 0 && (r.events ?? []).every((e) => e.introduced === '0'))) return true;
  return (entry.ranges ?? []).some((r) => r.type === 'ECOSYSTEM' && rangeAffects(r.events ?? [], version));
}

function rangeAffects(events: RangeEvent[], version: string): boolean {
  const named = events.flatMap((e) => [e.introduced, e.last_affected]).filter((v): v is string => v !== undefined && v !== '0');
  if (named.some((v) => !validPep440(v) && sameVersion(v, version))) return true;
  if (!validPep440(version)) return events.some((e) => e.introduced !== undefined);
  // Events sorted by version; affected from an "introduced" until the next fixed/last_affected.
  const points = events
    .map((e) => ({ e, v: e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '' }))
    .map((p) => (p.e.introduced !== undefined && !validPep440(p.v) ? { ...p, v: '0' } : p))
    .filter((p) => p.v === '0' || validPep440(p.v))
    .sort((a, b) => (a.v === b.v ? 0 : a.v === '0' ? -1 : b.v === '0' ? 1 : comparePep440(a.v, b.v)));
  let inRange = false;
  for (const { e, v } of points) {
    const cmp = v === '0' ? 1 : comparePep440(version, v);
    if (e.introduced !== undefined && cmp >= 0) inRange = true;
    else if (e.fixed !== undefined && cmp >= 0) inRange = false;
    else if (e.last_affected !== undefined && cmp > 0) inRange = false;
    else if (cmp < 0) break;
  }
  return inRange;
}

export class AdvisoryStore {
  constructor(
    private readonly db: Db,
    /** Advisory files (or zip entries) larger than this are reported and skipped. */
    private readonly maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
  ) {}

  async count(): Promise<number> {
    const [r] = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM advisories');
    return Number(r?.n ?? 0);
  }

  /** Imports (upserts) advisories from a folder (searched recursively), a .zip dump, or an http(s) URL. */
  async importFrom(source: string): Promise<ImportReport> {
    const problems: ImportProblem[] = [];
    const entries = await this.read(source, problems);
    let imported = 0;
    let skipped = 0;
    const malware: string[] = [];
    let malwareChanged = false;
    await this.db.tx(async (q) => {
      for (const { path, record } of entries) {
        const parsed = osvSchema.safeParse(record);
        if (!parsed.success) {
          problems.push({ path, message: osvProblem(parsed.error) });
          continue;
        }
        const rec = parsed.data as OsvRecord;
        const json = JSON.stringify(rec);
        if (json.includes('\\u0000')) {
          // PostgreSQL's jsonb cannot hold NUL: storing it would fail the whole source.
          problems.push({ path, message: 'contains a NUL character (\\u0000), which cannot be stored' });
          continue;
        }
        const names = new Set<string>();
        for (const a of rec.affected ?? []) {
          const key = packageKey(a.package?.ecosystem, a.package?.name);
          if (key) names.add(key);
        }
        if (!names.size) {
          skipped++;
          continue;
        }
        const changed = await q.query<{ id: string }>(
          `INSERT INTO advisories (id, packages, modified, data) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (id) DO UPDATE SET packages = EXCLUDED.packages, modified = EXCLUDED.modified, data = EXCLUDED.data
             WHERE advisories.data IS DISTINCT FROM EXCLUDED.data
           RETURNING id`,
          [rec.id, [...names], validDate(rec.modified), json],
        );
        imported++;
        if (changed.length && isMalware(rec)) {
          malwareChanged = true;
          if (!rec.withdrawn) malware.push(rec.id);
        }
      }
      // Delivered at COMMIT: every replica (this one included) reloads its policy.
      if (malwareChanged) await q.query('SELECT pg_notify($1, $2)', [POLICY_CHANNEL, 'malware']);
    });
    return { imported, skipped, problems, malware, malwareChanged };
  }

  /** The records of a source, each with the path it came from; unreadable files go to `problems`. */
  private async read(source: string, problems: ImportProblem[]): Promise<Entry[]> {
    const entries: Entry[] = [];
    const add = (path: string, bytes: Buffer) => {
      if (bytes.length > this.maxRecordBytes) return problems.push({ path, message: tooLarge(bytes.length, this.maxRecordBytes) });
      try {
        for (const record of [JSON.parse(bytes.toString('utf8')) as unknown].flat()) entries.push({ path, record });
      } catch (err) {
        problems.push({ path, message: `not valid JSON: ${(err as Error).message}` });
      }
    };
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok) throw new Error(`advisories: ${source} answered ${res.status}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (source.endsWith('.zip')) await jsonEntriesOfZip(bytes, source, this.maxRecordBytes, add, problems);
      else add(source, bytes);
    } else if (source.endsWith('.zip')) {
      await jsonEntriesOfZip(await readFile(source), source, this.maxRecordBytes, add, problems);
    } else {
      const files = (await readdir(source, { recursive: true })).filter((n) => n.endsWith('.json')).sort();
      for (const f of files) {
        const path = join(source, f);
        const { size } = await stat(path);
        if (size > this.maxRecordBytes) problems.push({ path, message: tooLarge(size, this.maxRecordBytes) });
        else add(path, await readFile(path));
      }
    }
    return entries;
  }

  /**
   * The policy's malware rules: one per affected package of every MAL- record that is not
   * withdrawn, in the ecosystems the policy serves. An entry with neither versions nor ranges
   * matches every version (fail closed: the package itself was found malicious).
   */
  async malwareRules(): Promise<Rule[]> {
    // Read on every policy reload: only the ecosystems the policy serves (most MAL- records are npm).
    const rows = await this.db.query<{ data: OsvRecord | string }>(
      `SELECT data FROM advisories
        WHERE id LIKE 'MAL-%' AND EXISTS (SELECT 1 FROM unnest(packages) AS p WHERE split_part(p, ':', 1) = ANY($1))
        ORDER BY id`,
      [[...new Set(Object.values(POLICY_ECOSYSTEMS))]],
    );
    const rules: Rule[] = [];
    for (const row of rows) {
      const rec = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as OsvRecord;
      if (rec.withdrawn) continue;
      for (const entry of rec.affected ?? []) {
        const ecosystem = POLICY_ECOSYSTEMS[(entry.package?.ecosystem ?? '').toLowerCase()];
        const key = packageKey(entry.package?.ecosystem, entry.package?.name);
        if (!ecosystem || !key) continue;
        const every = !entry.versions?.length && !entry.ranges?.length;
        rules.push({
          kind: 'malware',
          ecosystem,
          name: key.slice(key.indexOf(':') + 1),
          view: '*',
          id: rec.id,
          ...(rec.summary ? { reason: rec.summary } : {}),
          bypassCooldown: false,
          matcher: { text: affectedText(entry), matches: (v) => every || affectsIn(ecosystem, entry, v) },
        });
      }
    }
    return rules;
  }

  /** Every stored record (withdrawn ones included) that names any of these packages of an OSV ecosystem (npm's audit endpoint). */
  async recordsFor(osvEcosystem: string, names: string[]): Promise<OsvRecord[]> {
    const keys = [...new Set(names.map((n) => packageKey(osvEcosystem, n)).filter((k): k is string => k !== undefined))];
    if (!keys.length) return [];
    const rows = await this.db.query<{ data: OsvRecord | string }>('SELECT data FROM advisories WHERE packages && $1::text[] ORDER BY id', [keys]);
    return rows.map((row) => (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as OsvRecord);
  }

  /** Advisories that affect any of `versions` of a package (withdrawn ones excluded). */
  async hits(ecosystem: string, name: string, versions: string[]): Promise<AdvisoryHit[]> {
    const osvEco = OSV_ECOSYSTEM[ecosystem];
    if (!osvEco) return [];
    const normalize = (n: string) => grammars[ecosystem]!.normalizeName(n);
    const key = `${ecosystem}:${normalize(name)}`;
    const rows = await this.db.query<{ data: OsvRecord | string }>('SELECT data FROM advisories WHERE $1 = ANY(packages) ORDER BY id', [key]);
    const out: AdvisoryHit[] = [];
    for (const row of rows) {
      const rec = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as OsvRecord;
      if (rec.withdrawn) continue;
      const entries = (rec.affected ?? []).filter((a) => a.package?.ecosystem === osvEco && a.package.name && normalize(a.package.name) === normalize(name));
      const hit = versions.filter((v) => entries.some((e) => affectsIn(ecosystem, e, v)));
      if (!hit.length) continue;
      const fixed = entries.flatMap((e) => (e.ranges ?? []).flatMap((r) => (r.events ?? []).map((ev) => ev.fixed).filter((f): f is string => Boolean(f))));
      out.push({ id: rec.id, summary: rec.summary ?? null, aliases: rec.aliases ?? [], severity: rec.database_specific?.severity ?? null, affects: hit, fixed: [...new Set(fixed)] });
    }
    return out;
  }
}

/** Reads the .json entries of a zip through `add`; entries over the limit go to `problems` unread. */
function jsonEntriesOfZip(bytes: Buffer, source: string, max: number, add: (path: string, bytes: Buffer) => void, problems: ImportProblem[]): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`${source}: not a zip file`));
      zip.on('entry', (entry: yauzl.Entry) => {
        const path = `${source}!${entry.fileName}`;
        if (!entry.fileName.endsWith('.json')) return zip.readEntry();
        if (entry.uncompressedSize > max) {
          problems.push({ path, message: tooLarge(entry.uncompressedSize, max) });
          return zip.readEntry();
        }
        zip.openReadStream(entry, (e2, stream) => {
          if (e2 || !stream) return reject(e2 ?? new Error(`cannot read ${path}`));
          const chunks: Buffer[] = [];
          let size = 0;
          stream.on('data', (c: Buffer) => {
            // The declared size can lie; the bytes read cannot.
            size += c.length;
            if (size <= max) chunks.push(c);
          });
          stream.on('error', reject);
          stream.on('end', () => {
            if (size > max) problems.push({ path, message: tooLarge(size, max) });
            else add(path, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve());
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

function tooLarge(size: number, max: number): string {
  return `${size} bytes, more than the ${max} bytes an advisory may have (advisories.maxRecordBytes)`;
}

function isMalware(rec: OsvRecord): boolean {
  return rec.id.startsWith('MAL-');
}

/** A timestamp PostgreSQL accepts, or null (a malformed `modified` does not fail the whole source). */
function validDate(s: unknown): string | null {
  return typeof s === 'string' && !Number.isNaN(Date.parse(s)) ? s : null;
}

/** The affected versions as written, for messages and the policy's fingerprint. */
function affectedText(entry: NonNullable<OsvRecord['affected']>[number]): string {
  const parts = [...(entry.versions ?? []).map((v) => `==${v}`)];
  for (const r of entry.ranges ?? []) {
    parts.push((r.events ?? []).map((e) => Object.entries(e).map(([k, v]) => `${k} ${String(v)}`).join(' ')).join(', '));
  }
  return parts.length ? parts.join('; ') : 'every version';
}
