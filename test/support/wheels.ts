// Builds real, installable distributions for tests: wheels that pip accepts (valid RECORD,
// WHEEL and METADATA), sdists with PKG-INFO, both deterministic so the same inputs give the
// same sha256. Also lists the third-party wheels Debian ships in /usr/share/python-wheels.
import { createHash } from 'node:crypto';
import { createWriteStream, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yazl from 'yazl';

export interface DistSpec {
  name: string;
  version: string;
  requiresPython?: string;
  requiresDist?: string[];
  /** The License field of the core metadata. */
  license?: string;
  /** Module name → source; written as top-level `<module>.py`. */
  modules?: Record<string, string>;
}

export interface BuiltWheel {
  path: string;
  filename: string;
  sha256: string;
  /** The wheel's METADATA file, byte for byte (what PEP 658 serves). */
  metadata: Buffer;
}

/** Fixed timestamp for every archive entry, so builds are reproducible. */
const EPOCH = new Date('2020-02-02T00:00:00Z');

/** The file-name form of a project name (binary distribution format spec). */
export function escapeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '_');
}

function coreMetadata(spec: DistSpec): Buffer {
  const lines = ['Metadata-Version: 2.1', `Name: ${spec.name}`, `Version: ${spec.version}`, 'Summary: Safelist test distribution'];
  if (spec.requiresPython) lines.push(`Requires-Python: ${spec.requiresPython}`);
  if (spec.license) lines.push(`License: ${spec.license}`);
  for (const r of spec.requiresDist ?? []) lines.push(`Requires-Dist: ${r}`);
  return Buffer.from(lines.join('\n') + '\n\n');
}

function recordHash(bytes: Buffer): string {
  return `sha256=${createHash('sha256').update(bytes).digest('base64url')}`;
}

export async function buildWheel(dir: string, spec: DistSpec): Promise<BuiltWheel> {
  await mkdir(dir, { recursive: true });
  const base = `${escapeName(spec.name)}-${spec.version}`;
  const filename = `${base}-py3-none-any.whl`;
  const distInfo = `${base}.dist-info`;
  const metadata = coreMetadata(spec);
  const modules = spec.modules ?? { [escapeName(spec.name)]: `__version__ = "${spec.version}"\n` };
  const entries: Array<[string, Buffer]> = Object.entries(modules).map(([m, src]) => [`${m}.py`, Buffer.from(src)]);
  entries.push([`${distInfo}/METADATA`, metadata]);
  entries.push([
    `${distInfo}/WHEEL`,
    Buffer.from('Wheel-Version: 1.0\nGenerator: safelist-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n'),
  ]);
  entries.push([`${distInfo}/top_level.txt`, Buffer.from(Object.keys(modules).join('\n') + '\n')]);
  const record =
    entries
      .map(([p, b]) => `${p},${recordHash(b)},${b.length}`)
      .concat(`${distInfo}/RECORD,,`)
      .join('\n') + '\n';
  entries.push([`${distInfo}/RECORD`, Buffer.from(record)]);

  const zip = new yazl.ZipFile();
  for (const [p, b] of entries) zip.addBuffer(b, p, { mtime: EPOCH, mode: 0o100644 });
  zip.end();
  const path = join(dir, filename);
  await pipeline(zip.outputStream, createWriteStream(path));
  const sha256 = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  return { path, filename, sha256, metadata };
}

export async function buildSdist(dir: string, spec: DistSpec): Promise<{ path: string; filename: string; sha256: string }> {
  await mkdir(dir, { recursive: true });
  const base = `${escapeName(spec.name)}-${spec.version}`;
  const work = await mkdtemp(join(tmpdir(), 'safelist-sdist-'));
  try {
    await mkdir(join(work, base));
    await writeFile(join(work, base, 'PKG-INFO'), coreMetadata(spec));
    await writeFile(join(work, base, 'pyproject.toml'), `[project]\nname = "${spec.name}"\nversion = "${spec.version}"\n`);
    const filename = `${base}.tar.gz`;
    const path = join(dir, filename);
    await tar.create({ gzip: true, cwd: work, file: path, portable: true, mtime: EPOCH }, [base]);
    const sha256 = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    return { path, filename, sha256 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export const DEBIAN_WHEELS_DIR = '/usr/share/python-wheels';

/** Third-party wheels from Debian's python3-*-whl packages (installed by scripts/test-deps). */
export function debianWheels(): Array<{ path: string; name: string; version: string }> {
  let files: string[];
  try {
    files = readdirSync(DEBIAN_WHEELS_DIR);
  } catch {
    throw new Error(`${DEBIAN_WHEELS_DIR} is missing: run scripts/test-deps (installs python3-wheel-whl and friends)`);
  }
  return files
    .filter((f) => f.endsWith('.whl'))
    .map((f) => {
      const [name, version] = f.split('-') as [string, string];
      return { path: join(DEBIAN_WHEELS_DIR, f), name, version };
    });
}
