// Renders simple-index documents for one view: PEP 503 HTML (with PEP 592/629/658/714
// attributes) and PEP 691 JSON at API version 1.4 (PEP 700 fields, PEP 792 project status). Pure functions of the
// catalog entry and policy decisions; the caller caches their output. A version the view
// does not allow is listed as yanked with the policy reason (so a pinned install explains
// itself) and never carries metadata; a file that is not stored is never listed as available.
// Every listed file has its real size (PEP 700 makes `size` mandatory in API 1.1): a refused file
// whose size nobody knows is left out of both formats rather than listed with a made-up one.
// A project with the PEP 792 status "quarantined" never lists a file, whatever the caller passed.
import type { Decision } from '../../policy/types.js';
import { knownSize, type PypiFile, type PypiProject } from './catalog.js';

export const API_VERSION = '1.4';

/** PEP 792 statuses Safelist shows; "active" is the default and never written. */
export type ProjectStatusName = 'archived' | 'deprecated' | 'quarantined';

export interface ProjectStatus {
  status: ProjectStatusName;
  reason?: string;
}

export interface ListedFile {
  file: PypiFile;
  /** null when the file is offered; the refusal otherwise (listed as yanked). */
  blocked: Decision | null;
}

export interface ProjectListing {
  name: string;
  displayName: string;
  files: ListedFile[];
  /** PEP 792 marker; absent = active. */
  status?: ProjectStatus;
}

function listedFiles(p: ProjectListing): ListedFile[] {
  return p.status?.status === 'quarantined' ? [] : p.files;
}

function statusMeta(s: ProjectStatus | undefined): string {
  if (!s) return '';
  let out = `    <meta name="pypi:project-status" content="${s.status}">\n`;
  if (s.reason) out += `    <meta name="pypi:project-status-reason" content="${escapeHtml(s.reason)}">\n`;
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Relative from /pypi/{view}/simple/{project}/ to /pypi/{view}/files/{sha256}/{filename}. */
export function fileHref(file: PypiFile): string {
  return `../../files/${file.sha256}/${encodeURIComponent(file.filename)}`;
}

function yankText(l: ListedFile): string | null {
  if (l.blocked) return l.blocked.reason;
  return l.file.yanked;
}

/** RFC 3339 UTC with microseconds, as PEP 700 writes it. */
function uploadTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function renderProjectHtml(p: ProjectListing): string {
  const out: string[] = [
    '<!DOCTYPE html>\n<html>\n  <head>\n',
    `    <meta name="pypi:repository-version" content="${API_VERSION}">\n`,
    statusMeta(p.status),
    `    <title>Links for ${escapeHtml(p.displayName)}</title>\n  </head>\n  <body>\n`,
    `    <h1>Links for ${escapeHtml(p.displayName)}</h1>\n`,
  ];
  for (const l of listedFiles(p)) {
    const f = l.file;
    let attrs = `href="${fileHref(f)}#sha256=${f.sha256}"`;
    if (f.requiresPython) attrs += ` data-requires-python="${escapeHtml(f.requiresPython)}"`;
    const yanked = yankText(l);
    if (yanked !== null) attrs += yanked === '' ? ' data-yanked' : ` data-yanked="${escapeHtml(yanked)}"`;
    if (!l.blocked && f.metadataSha256 && f.metadataStored) {
      const m = `sha256=${f.metadataSha256}`;
      attrs += ` data-dist-info-metadata="${m}" data-core-metadata="${m}"`;
    }
    out.push(`    <a ${attrs}>${escapeHtml(f.filename)}</a><br />\n`);
  }
  out.push('  </body>\n</html>\n');
  return out.join('');
}

export function renderProjectJson(p: ProjectListing): string {
  const versions: string[] = [];
  const seen = new Set<string>();
  const files = listedFiles(p).map((l) => {
    const f = l.file;
    if (!seen.has(f.version)) {
      seen.add(f.version);
      versions.push(f.version);
    }
    const o: Record<string, unknown> = {
      filename: f.filename,
      url: fileHref(f),
      hashes: { sha256: f.sha256 },
      size: f.size,
    };
    if (f.requiresPython) o['requires-python'] = f.requiresPython;
    if (f.uploadTime) o['upload-time'] = uploadTime(f.uploadTime);
    const yanked = yankText(l);
    o.yanked = yanked === null ? false : yanked === '' ? true : yanked;
    if (!l.blocked && f.metadataSha256 && f.metadataStored) o['core-metadata'] = { sha256: f.metadataSha256 };
    else o['core-metadata'] = false;
    return o;
  });
  const status = p.status ? { 'project-status': { status: p.status.status, ...(p.status.reason ? { reason: p.status.reason } : {}) } } : {};
  return JSON.stringify({ meta: { 'api-version': API_VERSION }, name: p.name, ...status, versions, files });
}

export function renderRootHtml(names: readonly { name: string; displayName: string }[]): string {
  const out = [
    '<!DOCTYPE html>\n<html>\n  <head>\n',
    `    <meta name="pypi:repository-version" content="${API_VERSION}">\n`,
    '    <title>Simple index</title>\n  </head>\n  <body>\n',
  ];
  for (const n of names) out.push(`    <a href="${encodeURIComponent(n.name)}/">${escapeHtml(n.displayName)}</a><br />\n`);
  out.push('  </body>\n</html>\n');
  return out.join('');
}

export function renderRootJson(names: readonly { name: string; displayName: string }[]): string {
  return JSON.stringify({ meta: { 'api-version': API_VERSION }, projects: names.map((n) => ({ name: n.displayName })) });
}

/** Which files of a project a view lists, with the refusal for those it does not offer. */
export function listProject(project: PypiProject, decide: (file: PypiFile) => Decision): ProjectListing {
  const files: ListedFile[] = [];
  for (const file of project.files) {
    const d = decide(file);
    if (d.allowed) {
      if (file.stored) files.push({ file, blocked: null });
    } else if ((d.code === 'version-not-allowed' || d.code === 'cooldown') && knownSize(file) !== undefined) {
      files.push({ file, blocked: d });
    }
  }
  return { name: project.name, displayName: project.displayName, files };
}
