// The npm read model for every view: "what does view V's packument of package P say" as a
// pre-rendered, cached document (full or abbreviated, per tarball base), and "may view V fetch
// this tarball". A document is rendered once per (view, package, format, base) and reused until
// the catalog entry, the policy, or a time that changes the answer (an expiry, the end of a
// cool-down) moves on. Never lists a version the view refuses or whose bytes are not stored.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import semver from 'semver';
import { errors, type SafelistError } from '../../errors.js';
import type { PolicyStore } from '../../policy/store.js';
import type { Decision } from '../../policy/types.js';
import type { NpmCatalog, NpmPackage, NpmVersion } from './catalog.js';
import { checkNpmName, normalizeNpmName, tarballFilename } from './names.js';
import { renderPackument, type PackumentFormat } from './packument.js';
import { ViewReadModel, type ViewDocument } from '../read-model.js';

export type NpmDocument = ViewDocument;

const GZIP_MIN = 1024;

export function gzipOfPackument(doc: NpmDocument): Buffer | undefined {
  if (doc.body.length < GZIP_MIN) return undefined;
  doc.gzip ??= gzipSync(doc.body, { level: 6 });
  return doc.gzip;
}

/** Each catalog entry's versions by tarball file name, made once per entry (entries are replaced, never changed). */
const byFilename = new WeakMap<NpmPackage, Map<string, NpmVersion>>();
function versionOfFile(pkg: NpmPackage, filename: string): NpmVersion | undefined {
  let map = byFilename.get(pkg);
  if (!map) {
    map = new Map([...pkg.versions.values()].map((v) => [tarballFilename(v.name, v.version), v]));
    byFilename.set(pkg, map);
  }
  return map.get(filename);
}

export class NpmIndex extends ViewReadModel<NpmDocument> {
  constructor(
    private readonly catalog: NpmCatalog,
    policies: PolicyStore,
    opts: { maxBytes: number },
  ) {
    super(policies, opts.maxBytes);
  }

  decideVersion(v: NpmVersion, view: string, now = new Date()): Decision {
    return this.policy.decide({
      ecosystem: 'npm',
      name: v.name,
      version: v.version,
      view,
      ...(v.uploadTime ? { uploadTime: v.uploadTime } : {}),
      now,
    });
  }

  /** The packument a view sees, for tarball URLs under `base` (<origin>[/t/<token>]). */
  packument(view: string, rawName: string, format: PackumentFormat, base: string, now = Date.now()): NpmDocument {
    const key = `${view}\0${rawName}\0${format}\0${base}`;
    const policy = this.policy;
    const hit = this.cache.get(key);
    if (
      hit &&
      hit.serial === (this.catalog.package(normalizeNpmName(rawName))?.serial ?? -1) &&
      hit.policy === policy.fingerprint &&
      now < hit.validUntil
    )
      return hit;
    this.requireView(view);
    const problem = checkNpmName(rawName);
    if (problem) throw errors.invalidName(problem);
    const name = normalizeNpmName(rawName);
    const pkg = this.catalog.package(name);
    const at = new Date(now);
    if (!pkg || !policy.projectVisible('npm', name, view, at)) throw this.refusal(view, name, pkg !== undefined);
    const { listed, refused, validUntil } = this.visible(pkg, view, at);
    const body = Buffer.from(
      renderPackument({ pkg, listed, refused, tarballBase: `${base}/npm/${encodeURIComponent(view)}/${name}/-/` }, format),
    );
    const doc: NpmDocument = {
      body,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`,
      validUntil,
      policy: policy.fingerprint,
      serial: pkg.serial,
    };
    this.cache.set(key, doc);
    return doc;
  }

  /** Versions listed (allowed and stored, semver order) and refused, with the time the answer next changes. */
  private visible(
    pkg: NpmPackage,
    view: string,
    at: Date,
  ): { listed: NpmVersion[]; refused: Array<{ version: string; reason: string }>; validUntil: number } {
    let validUntil = Infinity;
    for (const r of this.policy.activeRules('npm', pkg.name, view, at))
      if (r.expires) validUntil = Math.min(validUntil, r.expires.getTime());
    const listed: NpmVersion[] = [];
    const refused: Array<{ version: string; reason: string }> = [];
    for (const v of [...pkg.versions.values()].sort((a, b) => semver.compare(a.version, b.version))) {
      const d = this.decideVersion(v, view, at);
      if (d.code === 'cooldown') {
        const until = this.policy.cooldownUntil(view, v.uploadTime ?? undefined);
        if (until) validUntil = Math.min(validUntil, until.getTime());
      }
      if (!d.allowed) refused.push({ version: v.version, reason: d.reason });
      else if (v.stored && v.sha512) listed.push(v);
    }
    return { listed, refused, validUntil };
  }

  /** Why a package is not served in a view: 403 when policy refuses a known or listed name, else 404. */
  refusal(view: string, name: string, known: boolean): SafelistError {
    const policy = this.policy;
    if (policy.projectVisible('npm', name, view, new Date()))
      return errors.notFound(
        `${name} is allowed in view ${view} but not mirrored yet: the next sync fetches it (an operator can run "safelist sync --ecosystem npm --project ${name}")`,
      );
    const d = policy.decide({ ecosystem: 'npm', name, version: '0.0.0', view });
    if (known || policy.rulesFor('npm', name).length > 0 || policy.blocksFor('npm', name).length > 0)
      return errors.blockedByPolicy(d.reason, { package: name, view });
    return errors.notFound(`${name} is not available in view ${view}: it is not on the allowlist; ${policy.requestHint(name, view)}`);
  }

  /** The tarball a view may download, or a SafelistError (404 unknown, 403 refused by policy). */
  authorizeTarball(view: string, rawName: string, filename: string): NpmVersion {
    this.requireView(view);
    const problem = checkNpmName(rawName);
    if (problem) throw errors.invalidName(problem);
    const name = normalizeNpmName(rawName);
    const pkg = this.catalog.package(name);
    const v = pkg ? versionOfFile(pkg, filename) : undefined;
    if (!v) {
      if (!pkg) throw this.refusal(view, name, false);
      throw errors.notFound(`no tarball ${filename} of ${name} here`);
    }
    const d = this.decideVersion(v, view);
    if (!d.allowed) throw errors.blockedByPolicy(d.reason, { package: name, version: v.version, view });
    if (!v.stored || !v.sha512) throw errors.notFound(`${name}@${v.version} is allowed but not mirrored yet; the next sync fetches it`);
    return v;
  }

  cacheStats(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }
}
