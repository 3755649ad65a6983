// The PyPI read model for every view: answers "what does view V list for project P" with a
// pre-rendered, cached document, and "may view V fetch file F". Documents are rendered once
// per (view, project, format) and reused until the catalog entry, the policy, or a time that
// changes the answer (an expiry, the end of a cool-down) moves on. A project the view refuses
// as a whole (or whose every version it refuses) answers 200 with the PEP 792 status
// "quarantined", the reason and where to ask, and no file: installers show the reason. An
// upstream's status is relayed: archived and deprecated are shown, quarantined blocks everything.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { errors, SafelistError, isBlockedByPolicy } from '../../errors.js';
import type { PolicyStore } from '../../policy/store.js';
import type { Decision } from '../../policy/types.js';
import { publishedAt, type PypiCatalog, type PypiFile, type RelayedStatus } from './catalog.js';
import { checkProjectName, normalizeProjectName } from './names.js';
import {
  listProject,
  type ProjectListing,
  type ProjectStatus,
  renderProjectHtml,
  renderProjectJson,
  renderRootHtml,
  renderRootJson,
} from './render.js';
import { ViewReadModel, type ViewDocument } from '../read-model.js';

export type IndexFormat = 'json' | 'html';

export interface RenderedDocument extends ViewDocument {
  /** True when the page is a policy refusal (PEP 792 quarantined): counted as a blocked request. */
  refused?: boolean;
  /** A project page's project, by its canonical (PEP 503 normalised) name; absent on the root page. */
  name?: string;
}

const GZIP_MIN = 1024;

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

export function gzipOf(doc: RenderedDocument): Buffer | undefined {
  if (doc.body.length < GZIP_MIN) return undefined;
  doc.gzip ??= gzipSync(doc.body, { level: 6 });
  return doc.gzip;
}

/** Why a project quarantined upstream is closed: no exception or allowlist entry opens it. */
function upstreamQuarantine(name: string, s: RelayedStatus): string {
  return `${name} is quarantined upstream (${s.upstream})${s.reason ? `: ${s.reason.replace(/\.$/, '')}` : ''}; Safelist serves none of its files, whatever the allowlist says`;
}

export class PypiIndex extends ViewReadModel<RenderedDocument> {
  private rootSerial = 0;
  private readonly publicUrl: string | undefined;

  constructor(
    private readonly catalog: PypiCatalog,
    policies: PolicyStore,
    opts: { maxBytes: number; publicUrl?: string | undefined },
  ) {
    super(policies, opts.maxBytes);
    this.publicUrl = opts.publicUrl?.replace(/\/$/, '');
    catalog.onChange(() => this.rootSerial++);
  }

  /** Policy's decision for one file; a project quarantined upstream refuses every file, whatever the rules say. */
  decideFile(file: PypiFile, view: string, now = new Date()): Decision {
    const relayed = this.catalog.project(file.project)?.upstreamStatus;
    if (relayed?.status === 'quarantined') return { allowed: false, code: 'not-listed', reason: upstreamQuarantine(file.project, relayed) };
    return this.policy.decide({
      ecosystem: 'pypi',
      name: file.project,
      version: file.version,
      view,
      ...(publishedAt(file) ? { uploadTime: publishedAt(file)! } : {}),
      now,
    });
  }

  /** Why a whole project is refused in a view (not listed, exception expired, unknown). */
  projectRefusal(view: string, name: string): SafelistError {
    const known = this.catalog.project(name) !== undefined;
    if (!known && this.policy.projectVisible('pypi', name, view, new Date())) {
      const e = errors.notFound(
        `${name} is allowed in view ${view} but not mirrored yet: the next sync fetches it (an operator can run "safelist sync --project ${name}")`,
      );
      e.extra.project = name;
      e.extra.view = view;
      return e;
    }
    const d = this.policy.decide({ ecosystem: 'pypi', name, version: '0', view });
    const e =
      known || this.policy.rulesFor('pypi', name).length > 0
        ? errors.blockedByPolicy(d.reason, { project: name, view })
        : errors.notFound(`${d.reason.replace(' is blocked by Safelist policy', ' is not available')}`);
    e.extra.project = name;
    e.extra.view = view;
    return e;
  }

  /** The project page for a view, or a SafelistError explaining the refusal. */
  projectPage(view: string, rawName: string, format: IndexFormat, now = Date.now()): RenderedDocument {
    const key = `${view}\0${rawName}\0${format}`;
    const hit = this.cache.get(key);
    const policy = this.policy;
    if (hit) {
      const project = this.catalog.project(rawName);
      if ((project?.serial ?? -1) === hit.serial && hit.policy === policy.fingerprint && now < hit.validUntil) {
        this.hits++;
        return hit;
      }
    }
    this.misses++;
    this.requireView(view);
    const problem = checkProjectName(rawName);
    if (problem) throw errors.invalidName(problem);
    const name = normalizeProjectName(rawName);
    const project = this.catalog.project(name);
    const at = new Date(now);
    // The one question to policy for this project: every file's decision, and how long they hold.
    const answer = project
      ? policy.decideProject({
          ecosystem: this.catalog.ecosystem,
          name,
          view,
          now: at,
          versions: project.files.map((f) => ({ version: f.version, uploadTime: publishedAt(f) })),
        })
      : undefined;
    if (!project || !answer?.visible) {
      const refusal = this.projectRefusal(view, name);
      if (!isBlockedByPolicy(refusal)) throw refusal;
      const listing = { name, displayName: project?.displayName ?? name, files: [], status: this.quarantine(refusal.message, name, view) };
      return this.store(key, name === rawName, listing, format, { validUntil: Infinity, serial: project?.serial ?? -1, refused: true });
    }
    const validUntil = answer.validUntil;
    const relayed = project.upstreamStatus;
    if (relayed?.status === 'quarantined') {
      const listing = {
        name,
        displayName: project.displayName,
        files: [],
        status: { status: 'quarantined' as const, reason: `${upstreamQuarantine(name, relayed)}.` },
      };
      return this.store(key, name === rawName, listing, format, { validUntil, serial: project.serial, refused: true });
    }
    // Every file refused for its version (none allowed, none merely cooling down): the project
    // is closed to the view as surely as an unlisted one, whether its sizes are known or not.
    const decisionOf = new Map(project.files.map((f, i) => [f, answer.decisions[i]!]));
    let offered = false;
    let refusal: Decision | undefined;
    const listing = listProject(project, (f) => {
      const d = decisionOf.get(f)!;
      if (d.code !== 'version-not-allowed') offered = true;
      else refusal ??= d;
      return d;
    });
    const refused = offered ? undefined : refusal;
    if (relayed) listing.status = { status: relayed.status, ...(relayed.reason ? { reason: relayed.reason } : {}) };
    if (refused)
      listing.status = this.quarantine(
        `${refused.reason.replace(/\.$/, '')}; no version of ${name} is allowed in view ${view}`,
        name,
        view,
      );
    return this.store(key, name === rawName, listing, format, { validUntil, serial: project.serial, refused: refused !== undefined });
  }

  private store(
    key: string,
    canonical: boolean,
    listing: ProjectListing,
    format: IndexFormat,
    o: { validUntil: number; serial: number; refused: boolean },
  ): RenderedDocument {
    const body = Buffer.from(format === 'json' ? renderProjectJson(listing) : renderProjectHtml(listing));
    const doc: RenderedDocument = {
      body,
      etag: etagOf(body),
      validUntil: o.validUntil,
      policy: this.policy.fingerprint,
      serial: o.serial,
      ...(o.refused ? { refused: true } : {}),
      name: listing.name,
    };
    // Only cache under the canonical name; other spellings are redirected by the HTTP layer.
    if (canonical) this.cache.set(key, doc);
    return doc;
  }

  /** The PEP 792 status of a refused project: the policy's reason and where to ask. */
  private quarantine(reason: string, name: string, view: string): ProjectStatus {
    let text = reason.replace(/\.$/, '');
    const why = `safelist why ${name} --view ${view}`;
    if (!text.includes(why)) text += `; run "${why}" to see how to request an exception`;
    if (this.publicUrl) text += `; request an exception: ${this.publicUrl}/api/v1/exceptions`;
    return { status: 'quarantined', reason: `${text}.` };
  }

  /** The root page: projects with at least one rule in force for the view. */
  rootPage(view: string, format: IndexFormat, now = Date.now()): RenderedDocument {
    const key = `${view}\0/\0${format}`;
    const policy = this.policy;
    const hit = this.cache.get(key);
    if (hit && hit.serial === this.rootSerial && hit.policy === policy.fingerprint && now < hit.validUntil) {
      this.hits++;
      return hit;
    }
    this.misses++;
    this.requireView(view);
    const at = new Date(now);
    const names: { name: string; displayName: string }[] = [];
    let validUntil = Infinity;
    for (const name of [...this.catalog.projectNames()].sort()) {
      const rules = policy.activeRules('pypi', name, view, at);
      if (rules.length === 0) continue;
      for (const r of rules) if (r.expires) validUntil = Math.min(validUntil, r.expires.getTime());
      names.push({ name, displayName: this.catalog.project(name)!.displayName });
    }
    const body = Buffer.from(format === 'json' ? renderRootJson(names) : renderRootHtml(names));
    const doc: RenderedDocument = { body, etag: etagOf(body), validUntil, policy: policy.fingerprint, serial: this.rootSerial };
    this.cache.set(key, doc);
    return doc;
  }

  /** The file a view may download, or a SafelistError (404 unknown, 403 refused by policy). */
  authorizeFile(view: string, sha256: string, filename: string): PypiFile {
    this.requireView(view);
    const file = this.catalog.file(sha256);
    if (!file || file.filename !== filename) throw errors.notFound(`no file ${filename} with sha256 ${sha256} in this index`);
    const d = this.decideFile(file, view);
    if (!d.allowed) throw errors.blockedByPolicy(d.reason, { project: file.project, version: file.version, view });
    if (!file.stored) throw errors.notFound(`${filename} is allowed but not mirrored yet; the next sync fetches it`);
    return file;
  }

  /**
   * The PEP 792 quarantine reason the project page gives in this view (refused as a whole, no
   * version allowed, or quarantined upstream), or undefined when the page lists files or the
   * project is not served at all (404). For `safelist why`; renders through the page cache.
   */
  pageRefusal(view: string, name: string): string | undefined {
    let doc: RenderedDocument;
    try {
      doc = this.projectPage(view, name, 'json');
    } catch (err) {
      if (err instanceof SafelistError) return undefined;
      throw err;
    }
    if (!doc.refused) return undefined;
    const page = JSON.parse(doc.body.toString('utf8')) as { 'project-status'?: { reason?: string } };
    return page['project-status']?.reason;
  }

  catalogProject(name: string) {
    return this.catalog.project(name);
  }

  nameOfFile(sha256: string): string | undefined {
    return this.catalog.file(sha256)?.project;
  }

  /** Rendered-document cache lookups that were served from memory, and those that rendered. */
  private hits = 0;
  private misses = 0;

  cacheStats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize, hits: this.hits, misses: this.misses };
  }
}
