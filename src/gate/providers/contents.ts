// The curated-contents provider: reads the image's layers from its registry and reports every
// Python distribution (*.dist-info/METADATA, *.egg-info/PKG-INFO) and conda package
// (conda-meta/*.json) that the image's workspace view does not allow. Only Safelist knows the
// curated set, so only this gate can say "this image smuggles in a package nobody approved".
// Layers are applied in order with their OCI whiteouts (`.wh.<name>` deletes a path,
// `.wh..wh..opq` empties a directory), so a package removed by a later layer is not reported;
// a layer that cannot be read is an error, never "nothing found".
import type { Readable } from 'node:stream';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { parseManifest } from '../../ecosystems/oci/manifest.js';
import { parseCoreMetadata } from '../../ecosystems/pypi/metadata.js';
import type { Policy } from '../../policy/decide.js';
import type { Ecosystem } from '../../policy/types.js';
import { repositoryMatches } from '../policy.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../types.js';
import type { GateRegistry } from '../registry.js';

const MAX_FILE = 1024 * 1024;
const PY_METADATA = /(^|\/)[^/]+\.(dist-info\/METADATA|egg-info\/PKG-INFO)$/;
const CONDA_META = /(^|\/)conda-meta\/[^/]+\.json$/;

export interface ContentsOptions {
  /** Which workspace view judges a repository (first match); default "default". */
  views: Array<{ match: string; view: string }>;
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
}

/** Reads one layer (a tar stream, compressed or not). */
export function readLayer(layer: Readable): Promise<LayerContents> {
  return new Promise((resolve, reject) => {
    const out: LayerContents = { packages: [], removed: [], opaque: [] };
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
        const py = PY_METADATA.test(path);
        const conda = !py && CONDA_META.test(path);
        if ((!py && !conda) || entry.type !== 'File' || entry.size > MAX_FILE) return void entry.resume();
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          const bytes = Buffer.concat(chunks);
          if (py) {
            const m = parseCoreMetadata(bytes);
            if (m.name && m.version) out.packages.push({ ecosystem: 'pypi', name: m.name, version: m.version, path });
          } else {
            try {
              const j = JSON.parse(bytes.toString('utf8')) as { name?: unknown; version?: unknown };
              if (typeof j.name === 'string' && typeof j.version === 'string') out.packages.push({ ecosystem: 'conda', name: j.name, version: j.version, path });
            } catch {
              /* not a conda package record */
            }
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
        out.set(img.digest, { state: 'error', reason: `cannot read the layers of ${img.repository}@${img.digest}: ${(err as Error).message}` });
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
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const p of packages) {
      const key = `${p.ecosystem}:${p.name}==${p.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!policy.hasView(view)) throw new Error(`view "${view}" (gate.contents.views) does not exist`);
      const d = p.ecosystem === 'pypi' || p.ecosystem === 'conda'
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
