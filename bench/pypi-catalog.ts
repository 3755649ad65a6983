// The PyPI catalog the read-path benchmarks serve (bench/pypi-index.ts, bench/hot-path-instructions.ts):
// `projects` projects with 2 wheels each (proj-00000 …) and one project, big-project, with
// `versions` versions, every one allowed in the default view. Real files of 256 random bytes go
// in work/packages (pypiserver hashes them), the records into Safelist's database, and a config
// file that serves them. Benchmark set-up only: nothing here is part of Safelist.
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openRuntime } from '../src/runtime.js';
import type { PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { openedPypi } from '../src/ecosystems/pypi/module.js';
import { configSchema } from '../src/ecosystems/index.js';

export interface SeededCatalog {
  /** The `safelist --config` file: PGlite in work/pglite (or `databaseUrl`), blobs in work/blobs, port `port`. */
  configFile: string;
  /** The small projects' names (the big one is big-project). */
  names: string[];
  catalog: PypiFile[];
  /** The folder of the distribution files. */
  packages: string;
}

function fileRecord(project: string, version: string, sha256: string, size: number): PypiFile {
  return {
    sha256,
    project,
    displayName: project,
    version,
    filename: `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`,
    size,
    requiresPython: '>=3.8',
    uploadTime: new Date(Date.UTC(2024, 0, 1) + Number(version.split('.')[0]) * 3600_000),
    yanked: null,
    metadataSha256: createHash('sha256').update(`${project}-${version}-meta`).digest('hex'),
    stored: true,
    metadataStored: true,
    source: 'bench',
    sourceUrl: null,
  };
}

export async function seedPypiCatalog(
  work: string,
  o: { projects: number; versions: number; port: number; databaseUrl?: string | undefined },
): Promise<SeededCatalog> {
  const packages = join(work, 'packages');
  await mkdir(packages);
  await mkdir(join(work, 'allowlists'));
  await mkdir(join(work, 'exceptions'));
  const names = Array.from({ length: o.projects }, (_, i) => `proj-${String(i).padStart(5, '0')}`);
  const catalog: PypiFile[] = [];
  const addFile = async (project: string, version: string) => {
    const bytes = randomBytes(256);
    const rec = fileRecord(project, version, createHash('sha256').update(bytes).digest('hex'), bytes.length);
    catalog.push(rec);
    await writeFile(join(packages, rec.filename), bytes);
  };
  for (const n of names) for (const v of ['1.0', '1.1']) await addFile(n, v);
  for (let i = 0; i < o.versions; i++) await addFile('big-project', `${i}.0`);
  await writeFile(join(work, 'allowlists', 'pypi.yaml'), `packages:\n${[...names, 'big-project'].map((n) => `  - ${n}`).join('\n')}\n`);
  const configFile = join(work, 'safelist.yaml');
  await writeConfigAndSeed(
    configFile,
    work,
    [
      'server: { host: 127.0.0.1, port: ' + o.port + ', logLevel: warn }',
      `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
      o.databaseUrl ? `database: { url: "${o.databaseUrl}" }` : `database: { pglitePath: ${join(work, 'pglite')} }`,
    ],
    catalog,
  );
  return { configFile, names, catalog, packages };
}

/**
 * Writes a served Safelist's configuration (the server, storage and database lines given; the
 * policy folders under work, no scheduled sync) and upserts the catalog into its database.
 */
export async function writeConfigAndSeed(configFile: string, work: string, lines: string[], catalog: PypiFile[]): Promise<void> {
  const policy = `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`;
  await writeFile(configFile, [...lines, policy, "sync: { schedule: '' }", ''].join('\n'));
  const config = configSchema.parse((await import('yaml')).parse(readFileSync(configFile, 'utf8')));
  const rt = await openRuntime(config);
  for (let i = 0; i < catalog.length; i += 1000) {
    await rt.db.tx((q) => openedPypi(rt).catalog.upsert(catalog.slice(i, i + 1000), q));
  }
  await rt.close();
}
