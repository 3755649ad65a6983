// The curated-contents provider: reads the image's layers from its registry and reports every
// installed package (of each registered ecosystem that has a contents matcher: Python
// distributions, conda-meta records…) that the image's workspace view does not allow. Only
// Safelist knows the curated set, so only this gate can say "this image smuggles in a package
// nobody approved". Which paths are package records, and how they are named, is each
// ecosystem's matcher (ecosystems/<id>/contents.ts); only the head of a large record is read.
// Layers are applied in order with their OCI whiteouts (`.wh.<name>` deletes a path,
// `.wh..wh..opq` empties a directory) and with replacements (a directory where a record file
// was, or the reverse), so a package removed by a later layer is not reported; a layer that
// cannot be read is an error, never "nothing found".
import type { Readable } from 'node:stream';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { ecosystems } from '../../ecosystems/index.js';
import { parseManifest } from '../../ecosystems/oci/manifest.js';
import type { ContentsMatcher } from '../../ecosystems/types.js';
import type { Policy } from '../../policy/decide.js';
import type { Ecosystem } from '../../policy/types.js';
import { repositoryMatches } from '../policy.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../types.js';
import type { GateRegistry } from '../registry.js';

/** How much of a package record is read: headers come first, and conda's file lists can be long. */
const MAX_READ = 1024 * 1024;

/** Every registered ecosystem's matcher, in registry order. */
const MATCHERS: ReadonlyArray<{ ecosystem: Ecosystem; matcher: ContentsMatcher }> = [...ecosystems.values()].flatMap((m) =>
  m.contents ? [{ ecosystem: m.id, matcher: m.contents }] : [],
);

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

/** The first ecosystem whose matcher claims a path, and what it says. */
function matchPath(path: string) {
  for (const { ecosystem, matcher } of MATCHERS) {
    const found = matcher.match(path);
    if (found) return { ecosystem, matcher, found };
  }
  return undefined;
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
        if (MATCHERS.some((m) => m.matcher.isRecordPath?.(path))) out.written.push({ path, dir: entry.type === 'Directory' });
        if (entry.type !== 'File') return void entry.resume();
        const hit = matchPath(path);
        if (!hit) return void entry.resume();
        if (!('read' in hit.found)) {
          out.packages.push({ ecosystem: hit.ecosystem, ...hit.found, path });
          return void entry.resume();
        }
        const chunks: Buffer[] = [];
        let size = 0;
        entry.on('data', (c: Buffer) => {
          if (size < MAX_READ) chunks.push(c);
          size += c.length;
        });
        entry.on('end', () => {
          const found = hit.matcher.parse(path, Buffer.concat(chunks).subarray(0, MAX_READ));
          if (found) out.packages.push({ ecosystem: hit.ecosystem, ...found, path });
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

/** The policy's decision on a package found in an image; one it cannot judge is not allowed (fail closed). */
function decideFound(policy: Policy, p: FoundPackage, view: string): { allowed: boolean; reason: string } {
  if (!MATCHERS.some((m) => m.ecosystem === p.ecosystem)) return { allowed: false, reason: 'unknown ecosystem' };
  try {
    return policy.decide({ ecosystem: p.ecosystem, name: p.name, version: p.version, view });
  } catch (err) {
    return { allowed: false, reason: (err as Error).message };
  }
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
      const d = decideFound(policy, p, view);
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
