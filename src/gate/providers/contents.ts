// The curated-contents provider: reads the image's layers from its registry and reports every
// Python distribution, conda package (conda-meta/*.json) and npm package (node_modules/**/package.json,
// see ecosystems/npm/contents.ts) that the image's workspace view
// does not allow. Only Safelist knows the curated set, so only this gate can say "this image
// smuggles in a package nobody approved". Every installed form of a Python distribution counts,
// wherever it sits (site-packages, dist-packages, a venv, a --target folder): `*.dist-info/
// METADATA` (wheels), `*.egg-info/PKG-INFO` (setuptools, pip install of an sdist), a bare
// `*.egg-info` FILE (distutils and old setuptools write PKG-INFO headers into one file),
// `*.egg/EGG-INFO/PKG-INFO` (unzipped eggs) and zipped `*.egg` files in site-/dist-packages.
// Name and version come from the Name:/Version: headers; the file name only stands in where
// they are missing (and for zipped eggs, which are not opened). Only the head of a large
// record is read, so a long description never hides a distribution.
// Layers are applied in order with their OCI whiteouts (`.wh.<name>` deletes a path,
// `.wh..wh..opq` empties a directory) and with replacements (a directory where a bare
// egg-info file was, or the reverse), so a package removed by a later layer is not reported;
// a layer that cannot be read is an error, never "nothing found".
import type { Readable } from 'node:stream';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { parseManifest } from '../../ecosystems/oci/manifest.js';
import { parseCoreMetadata } from '../../ecosystems/pypi/metadata.js';
import { installedNpmPackage, NPM_PACKAGE_JSON } from '../../ecosystems/npm/contents.js';
import type { Policy } from '../../policy/decide.js';
import type { Ecosystem } from '../../policy/types.js';
import { repositoryMatches } from '../policy.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../types.js';
import type { GateRegistry } from '../registry.js';

/** How much of a package record is read: headers come first, and conda's file lists can be long. */
const MAX_READ = 1024 * 1024;
/** Python metadata files: the record's own path, and the distribution's folder or file. */
const PY_METADATA = /(^|\/)([^/]+)\.(dist-info\/METADATA|egg-info\/PKG-INFO|egg\/EGG-INFO\/PKG-INFO|egg-info)$/;
/** A zipped egg, identified by its file name (the zip is not opened). */
const ZIPPED_EGG = /(^|\/)(site|dist)-packages\/([^/]+)\.egg$/;
const CONDA_META = /(^|\/)conda-meta\/([^/]+)\.json$/;
/** Entries whose replacement by another type (file ↔ directory) removes a package record. */
const DIST_PATH = /\.(dist-info|egg-info|egg)$/;

/**
 * Name and version from a distribution's folder or file name (`name-version.dist-info`,
 * `name-version-py3.11.egg-info`, `name.egg-info`); a stand-in for missing headers.
 */
export function distributionFromPath(stem: string): { name: string; version?: string } {
  const [name, version] = stem.split('-');
  return { name: name!, ...(version ? { version } : {}) };
}

/** Name and version from a conda-meta file name `name-version-build.json` (names may hold dashes). */
function condaFromPath(stem: string): { name: string; version: string } | undefined {
  const parts = stem.split('-');
  return parts.length >= 3 ? { name: parts.slice(0, -2).join('-'), version: parts.at(-2)! } : undefined;
}

export interface ContentsOptions {
  /** Which workspace view judges a repository (first match); default "default". */
  views: Array<{ match: string; view: string }>;
  /**
   * Stores what was found in an image (names normalised), for incidents and re-judging
   * (gate/image-packages.ts). A failure to store fails the scan: the image is not judged blind to it later.
   */
  record?: (digest: string, packages: FoundPackage[]) => Promise<void>;
}

export interface FoundPackage {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  path: string;
}

/** What one layer adds (package records) and deletes (whiteouts), in tar order. */
export interface LayerContents {
  packages: FoundPackage[];
  /** Paths a `.wh.<name>` entry deletes from the layers below. */
  removed: string[];
  /** Directories a `.wh..wh..opq` entry empties (of the layers below). */
  opaque: string[];
  /** Distribution paths this layer writes, and whether as a directory (replacing a lower file) or not. */
  written: Array<{ path: string; dir: boolean }>;
}

/** Reads one layer (a tar stream, compressed or not). */
export function readLayer(layer: Readable): Promise<LayerContents> {
  return new Promise((resolve, reject) => {
    const out: LayerContents = { packages: [], removed: [], opaque: [], written: [] };
    const parser = new TarParser({
      onReadEntry: (entry: ReadEntry) => {
        const path = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
        const slash = path.lastIndexOf('/');
        const dir = slash >= 0 ? path.slice(0, slash) : '';
        const base = path.slice(slash + 1);
        if (base === '.wh..wh..opq') {
          out.opaque.push(dir);
          return void entry.resume();
        }
        if (base.startsWith('.wh.')) {
          out.removed.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
          return void entry.resume();
        }
        if (DIST_PATH.test(base)) out.written.push({ path, dir: entry.type === 'Directory' });
        if (entry.type !== 'File') return void entry.resume();
        const egg = ZIPPED_EGG.exec(path);
        if (egg) {
          const d = distributionFromPath(egg[3]!);
          out.packages.push({ ecosystem: 'pypi', name: d.name, version: d.version ?? '', path });
          return void entry.resume();
        }
        const py = PY_METADATA.exec(path);
        const conda = py ? null : CONDA_META.exec(path);
        const npm = py || conda ? null : NPM_PACKAGE_JSON.exec(path);
        if (!py && !conda && !npm) return void entry.resume();
        const chunks: Buffer[] = [];
        let size = 0;
        entry.on('data', (c: Buffer) => {
          if (size < MAX_READ) chunks.push(c);
          size += c.length;
        });
        entry.on('end', () => {
          const bytes = Buffer.concat(chunks).subarray(0, MAX_READ);
          if (npm) {
            out.packages.push({ ecosystem: 'npm', ...installedNpmPackage(npm[2]!, bytes), path });
          } else if (py) {
            const m = parseCoreMetadata(bytes);
            const named = distributionFromPath(py[2]!);
            const name = m.name || named.name;
            if (name) out.packages.push({ ecosystem: 'pypi', name, version: m.version || named.version || '', path });
          } else {
            let j: { name?: unknown; version?: unknown } = {};
            try {
              j = JSON.parse(bytes.toString('utf8')) as typeof j;
            } catch {
              /* a record longer than MAX_READ, or not JSON: the file name says which package */
            }
            const p =
              typeof j.name === 'string' && typeof j.version === 'string'
                ? { name: j.name, version: j.version }
                : condaFromPath(conda![2]!);
            if (p) out.packages.push({ ecosystem: 'conda', ...p, path });
          }
        });
      },
    });
    parser.on('end', () => resolve(out));
    parser.on('error', reject);
    layer.on('error', reject);
    layer.pipe(parser);
  });
}

/** The package records inside one layer, whiteouts aside. */
export async function packagesInLayer(layer: Readable): Promise<FoundPackage[]> {
  return (await readLayer(layer)).packages;
}

/** The packages present in the image filesystem after applying the layers bottom to top. */
export function applyLayers(stack: LayerContents[]): FoundPackage[] {
  const present = new Map<string, FoundPackage>();
  const under = (path: string, root: string) => root === '' || path === root || path.startsWith(`${root}/`);
  for (const layer of stack) {
    for (const dir of layer.opaque) for (const p of [...present.keys()]) if (p !== dir && under(p, dir)) present.delete(p);
    for (const gone of layer.removed) for (const p of [...present.keys()]) if (under(p, gone)) present.delete(p);
    // A directory where a file was replaces the file; a file where anything was replaces all of it.
    for (const w of layer.written) for (const p of [...present.keys()]) if (w.dir ? p === w.path : under(p, w.path)) present.delete(p);
    for (const pkg of layer.packages) present.set(pkg.path, pkg);
  }
  return [...present.values()];
}

export class ContentsProvider implements ScanProvider {
  readonly name = 'contents';

  constructor(
    private readonly registries: GateRegistry[],
    private readonly policy: () => Policy,
    private readonly opts: ContentsOptions,
  ) {}

  viewOf(repository: string): string {
    return this.opts.views.find((v) => repositoryMatches(v.match, repository))?.view ?? 'default';
  }

  async scan(images: ImageRef[]): Promise<Map<string, ScanResult>> {
    const out = new Map<string, ScanResult>();
    for (const img of images) {
      try {
        out.set(img.digest, { state: 'scanned', findings: await this.judge(img), source: 'contents' });
      } catch (err) {
        out.set(img.digest, {
          state: 'error',
          reason: `cannot read the layers of ${img.repository}@${img.digest}: ${(err as Error).message}`,
        });
      }
    }
    return out;
  }

  private async judge(img: ImageRef): Promise<Finding[]> {
    const reg = this.registries.find((r) => r.name === img.registry);
    if (!reg) throw new Error(`registry ${img.registry} is not configured`);
    // One ordered layer stack per platform image; each layer is read once however often shared.
    const stacks: string[][] = [];
    const visit = async (reference: string, depth: number): Promise<void> => {
      const m = await reg.client.manifest(img.repository, reference);
      const parsed = parseManifest(m.bytes, m.mediaType, `${img.repository}@${reference}`);
      if (parsed.kind === 'index') {
        if (depth > 1) throw new Error('nested image indexes are not supported');
        for (const child of parsed.manifests) await visit(child.digest, depth + 1);
      } else stacks.push(parsed.layers.map((l) => l.digest));
    };
    await visit(img.digest, 0);
    const read = new Map<string, LayerContents>();
    const packages: FoundPackage[] = [];
    for (const stack of stacks) {
      const contents: LayerContents[] = [];
      for (const digest of stack) {
        let c = read.get(digest);
        if (!c) {
          c = await readLayer(await reg.client.blob(img.repository, digest));
          read.set(digest, c);
        }
        contents.push(c);
      }
      packages.push(...applyLayers(contents));
    }
    const view = this.viewOf(img.repository);
    const policy = this.policy();
    await this.opts.record?.(
      img.digest,
      packages.map((p) => ({ ...p, name: policy.normalize(p.ecosystem, p.name) })),
    );
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const p of packages) {
      const key = `${p.ecosystem}:${p.name}==${p.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!policy.hasView(view)) throw new Error(`view "${view}" (gate.contents.views) does not exist`);
      const d =
        p.ecosystem === 'pypi' || p.ecosystem === 'conda' || p.ecosystem === 'npm'
          ? (() => {
              try {
                return policy.decide({ ecosystem: p.ecosystem, name: p.name, version: p.version, view });
              } catch (err) {
                return { allowed: false, reason: (err as Error).message };
              }
            })()
          : { allowed: false, reason: 'unknown ecosystem' };
      if (d.allowed) continue;
      findings.push({
        id: `not-allowed:${key}`,
        severity: 'unknown',
        package: p.name,
        installedVersion: p.version,
        fixable: true,
        source: 'contents',
        breach: `${p.ecosystem} ${p.name} ${p.version} (${p.path}) is not allowed in view ${view}: ${d.reason}`,
      });
    }
    return findings;
  }
}
