// A synthetic conda repodata.json shaped like conda-forge's linux-64 one (record fields, depends
// and constrains between generated names, build strings, the .tar.bz2/.conda split, one-space
// indent), deterministic for a seed and streamed to disk in bounded memory. Each record's
// sha256, md5 and size are those of fileBytes(filename), so a benchmark can serve real files
// for the records it wants synced. Bench-only: never imported by src/.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const WORDS = ['py', 'lib', 'data', 'ml', 'torch', 'sci', 'kit', 'net', 'io', 'core', 'utils', 'cuda', 'arrow', 'geo', 'text'];
const PYTHONS = ['38', '39', '310', '311', '312'];
const LICENSES = ['MIT', 'BSD-3-Clause', 'Apache-2.0', 'GPL-3.0-or-later'];

/** mulberry32: a small seeded generator, so the same seed gives the same channel. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The bytes served for a generated file name (a few KiB; what its record's hashes describe). */
export function fileBytes(filename: string): Buffer {
  return Buffer.from(`${filename}\n`.repeat(16 + (filename.length % 64)));
}

export interface GeneratedRecord {
  filename: string;
  name: string;
  version: string;
}

export interface RepodataSpec {
  names: number;
  perName: number;
  seed?: number;
}

/** Generated package names, in generation order. */
export function packageNames(spec: RepodataSpec): string[] {
  const r = rng(spec.seed ?? 7);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  return Array.from({ length: spec.names }, (_, i) => `${pick(WORDS)}${pick(WORDS)}-${i}`);
}

/**
 * Writes the repodata to `path` and calls `onRecord` for every record. Records are generated
 * twice with the same seed (once per section, packages then packages.conda), so nothing but
 * the current chunk is held in memory.
 */
export async function writeRepodata(
  path: string,
  spec: RepodataSpec,
  onRecord: (r: GeneratedRecord) => void = () => undefined,
): Promise<{ records: number; bytes: number }> {
  const names = packageNames(spec);
  const out = createWriteStream(path);
  let bytes = 0;
  const write = async (s: string) => {
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  };
  let records = 0;
  await write('{\n "info": {\n  "subdir": "linux-64"\n },\n');
  for (const section of ['packages', 'packages.conda'] as const) {
    await write(` "${section}": {`);
    const r = rng((spec.seed ?? 7) * 7919 + 1);
    const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
    let chunk: string[] = [];
    let first = true;
    for (let n = 0; n < names.length; n++) {
      for (let j = 0; j < spec.perName; j++) {
        const name = names[n]!;
        const version = `${int(0, 5)}.${int(0, 30)}.${int(0, 20)}`;
        const bn = int(0, 3);
        const pyv = pick(PYTHONS);
        const build = `py${pyv}h${createHash('md5').update(`${name}${j}`).digest('hex').slice(0, 7)}_${bn}`;
        const depends = [
          `libgcc-ng >=12`,
          `python >=${pyv[0]}.${pyv.slice(1)},<${pyv[0]}.${Number(pyv.slice(1)) + 1}.0a0`,
          `python_abi 3.* *_cp${pyv}`,
          `${pick(names)} >=${int(0, 3)}.${int(0, 9)}`,
          ...Array.from({ length: int(0, 4) }, () => pick(names)),
        ];
        const constrains = r() < 0.8 ? [] : [`${pick(names)} <${int(1, 9)}`];
        const license = pick(LICENSES);
        const timestamp = int(1_500_000_000_000, 1_760_000_000_000);
        const isConda = r() < 0.45;
        if (isConda !== (section === 'packages.conda')) continue;
        const filename = `${name}-${version}-${build}${isConda ? '.conda' : '.tar.bz2'}`;
        const bytesOf = fileBytes(filename);
        // Keys sorted, as conda-index writes them.
        const rec = {
          build,
          build_number: bn,
          constrains,
          depends,
          license,
          license_family: 'MIT',
          md5: createHash('md5').update(bytesOf).digest('hex'),
          name,
          sha256: createHash('sha256').update(bytesOf).digest('hex'),
          size: bytesOf.length,
          subdir: 'linux-64',
          timestamp,
          version,
        };
        const body = JSON.stringify(rec, null, 1).replace(/\n/g, '\n   ');
        chunk.push(`${first ? '' : ','}\n  ${JSON.stringify(filename)}: ${body}`);
        first = false;
        records++;
        onRecord({ filename, name, version });
        if (chunk.length >= 1000) {
          await write(chunk.join(''));
          chunk = [];
        }
      }
    }
    await write(chunk.join('') + '\n },\n');
  }
  await write(' "removed": [],\n "repodata_version": 1\n}\n');
  out.end();
  await once(out, 'finish');
  return { records, bytes };
}
