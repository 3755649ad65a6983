// The curated-contents provider: reads the image's layers from its registry and reports every
// Python distribution (*.dist-info/METADATA, *.egg-info/PKG-INFO) and conda package
// (conda-meta/*.json) that the image's workspace view does not allow. Only Safelist knows the
// curated set, so only this gate can say "this image smuggles in a package nobody approved".
// Conservative by design: a package deleted by a later layer (whiteout) is still reported, and
// a layer that cannot be read is an error, never "nothing found".
import type { Readable } from 'node:stream';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { parseManifest } from '../../ecosystems/oci/manifest.js';
import { parseCoreMetadata } from '../../ecosystems/pypi/metadata.js';
import type { Policy } from '../../policy/decide.js';
import type { Ecosystem } from '../../policy/types.js';
import { repositoryMatches } from '../policy.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../types.js';
import type { GateRegistry } from '../worker.js';

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

/** The package records inside one layer (a tar stream, compressed or not). */
export function packagesInLayer(layer: Readable): Promise<FoundPackage[]> {
  return new Promise((resolve, reject) => {
    const found: FoundPackage[] = [];
    const parser = new TarParser({
      onReadEntry: (entry: ReadEntry) => {
        const path = entry.path.replace(/^\.\//, '');
        const py = PY_METADATA.test(path);
        const conda = !py && CONDA_META.test(path);
        if ((!py && !conda) || entry.type !== 'File' || entry.size > MAX_FILE) return void entry.resume();
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          const bytes = Buffer.concat(chunks);
          if (py) {
            const m = parseCoreMetadata(bytes);
            if (m.name && m.version) found.push({ ecosystem: 'pypi', name: m.name, version: m.version, path });
          } else {
            try {
              const j = JSON.parse(bytes.toString('utf8')) as { name?: unknown; version?: unknown };
              if (typeof j.name === 'string' && typeof j.version === 'string') found.push({ ecosystem: 'conda', name: j.name, version: j.version, path });
            } catch {
              /* not a conda package record */
            }
          }
        });
      },
    });
    parser.on('end', () => resolve(found));
    parser.on('error', reject);
    layer.on('error', reject);
    layer.pipe(parser);
  });
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
    const layers = new Set<string>();
    const visit = async (reference: string, depth: number): Promise<void> => {
      const m = await reg.client.manifest(img.repository, reference);
      const parsed = parseManifest(m.bytes, m.mediaType, `${img.repository}@${reference}`);
      if (parsed.kind === 'index') {
        if (depth > 1) throw new Error('nested image indexes are not supported');
        for (const child of parsed.manifests) await visit(child.digest, depth + 1);
      } else for (const l of parsed.layers) layers.add(l.digest);
    };
    await visit(img.digest, 0);
    const view = this.viewOf(img.repository);
    const policy = this.policy();
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const digest of layers) {
      for (const p of await packagesInLayer(await reg.client.blob(img.repository, digest))) {
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
    }
    return findings;
  }
}
