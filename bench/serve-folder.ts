// The folder a benchmark's `safelist serve` runs from: a PyPI allowlist naming the seeded
// projects, an empty exceptions folder and a safelist.yaml (loopback port, folder storage, the
// given database line, no scheduled sync). Shared by scale.ts and serve-memory.ts so both serve
// the same configuration. Benchmarks only; it must never write outside `dir`.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes the folder and returns its configuration file's path. */
export async function writeServeFolder(dir: string, port: number, dbLine: string, projects: string[]): Promise<string> {
  await mkdir(join(dir, 'allowlists'), { recursive: true });
  await mkdir(join(dir, 'exceptions'), { recursive: true });
  await writeFile(join(dir, 'allowlists', 'pypi.yaml'), `packages:\n${projects.map((p) => `  - ${p}`).join('\n')}\n`);
  const configFile = join(dir, 'safelist.yaml');
  await writeFile(
    configFile,
    [
      `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
      `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
      dbLine,
      `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
      "sync: { schedule: '' }",
      '',
    ].join('\n'),
  );
  return configFile;
}
