// Starts a real Safelist server in this process for tests: its own temp folder for policy
// files and blobs, the chosen database mode and storage back end, a free port.
import type { CondaChannelConfig } from '../../src/ecosystems/conda/config.js';
import type { OciUpstreamConfig } from '../../src/ecosystems/oci/config.js';
import type { PypiUpstreamConfig } from '../../src/ecosystems/pypi/config.js';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { databaseConfig, type DbMode } from './databases.js';
import type { SyncReport } from '../../src/ecosystems/pypi/sync.js';
import type { OciSyncReport } from '../../src/ecosystems/oci/sync.js';
import { configSchema } from '../../src/ecosystems/index.js';

export interface TestSafelistOptions {
  db?: DbMode;
  /** Share an existing PostgreSQL database (a second replica); the caller drops it. */
  databaseUrl?: string;
  /** 'fs' (default) or an Azurite connection string. */
  azure?: { connectionString: string; container: string };
  allowlist?: string;
  /** allowlists/conda.yaml */
  condaAllowlist?: string;
  condaChannels?: CondaChannelConfig[];
  exceptions?: Record<string, string>;
  views?: Config['views'];
  upstreams?: PypiUpstreamConfig[];
  /** Written to allowlists/npm.yaml. */
  npmAllowlist?: string;
  /** Written to allowlists/oci.yaml. */
  ociAllowlist?: string;
  ociUpstreams?: OciUpstreamConfig[];
  extra?: Record<string, unknown>;
  /** Passed to startServer (Azure identity and client options for the Defender provider). */
  server?: Omit<import('../../src/server.js').ServerOptions, 'onServed'>;
}

export interface TestSafelist extends Omit<RunningServer, 'syncNow'> {
  /** Runs the sync (what the schedule does); resolves with the PyPI report when PyPI's part ran to its end. */
  syncNow(): Promise<SyncReport | undefined>;
  /** Runs the OCI sync on its own; resolves with its report (undefined: busy or failed). */
  syncOciNow(): Promise<OciSyncReport | undefined>;
  dir: string;
  config: Config;
  served: Array<{ view: string; sha256: string; filename: string; metadata: boolean }>;
  condaServed: Array<{ view: string; sha256: string; filename: string }>;
  setAllowlist(yaml: string): Promise<void>;
  setCondaAllowlist(yaml: string): Promise<void>;
  setExceptions(file: string, yaml: string): Promise<void>;
  setOciAllowlist(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestSafelist(opts: TestSafelistOptions = {}): Promise<TestSafelist> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-test-'));
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  if (opts.allowlist !== undefined) await writeFile(join(dir, 'allowlists', 'pypi.yaml'), opts.allowlist);
  if (opts.ociAllowlist !== undefined) await writeFile(join(dir, 'allowlists', 'oci.yaml'), opts.ociAllowlist);
  if (opts.npmAllowlist !== undefined) await writeFile(join(dir, 'allowlists', 'npm.yaml'), opts.npmAllowlist);
  if (opts.condaAllowlist !== undefined) await writeFile(join(dir, 'allowlists', 'conda.yaml'), opts.condaAllowlist);
  for (const [f, y] of Object.entries(opts.exceptions ?? {})) await writeFile(join(dir, 'exceptions', f), y);
  const db = opts.databaseUrl
    ? { database: { url: opts.databaseUrl, pglitePath: 'memory://' }, cleanup: async () => undefined }
    : await databaseConfig(opts.db ?? 'pglite');
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
    storage: opts.azure
      ? { kind: 'azure', azure: { connectionString: opts.azure.connectionString, container: opts.azure.container } }
      : { kind: 'fs', path: join(dir, 'blobs') },
    database: db.database,
    policy: { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') },
    views: opts.views ?? {},
    pypi: { upstreams: opts.upstreams ?? [] },
    oci: { upstreams: opts.ociUpstreams ?? [] },
    ...(opts.condaChannels ? { conda: { channels: opts.condaChannels } } : {}),
    sync: { schedule: '', concurrency: 4, timeout: '30s' },
    ...opts.extra,
  });
  const served: TestSafelist['served'] = [];
  const condaServed: TestSafelist['condaServed'] = [];
  let server: RunningServer;
  try {
    server = await startServer(config, {
      ...opts.server,
      onServed: (ecosystem, e) => {
        if (ecosystem === 'pypi') served.push({ view: e.view, sha256: e.sha256, filename: e.filename, metadata: !e.download });
        if (ecosystem === 'conda') condaServed.push({ view: e.view, sha256: e.sha256, filename: e.filename });
      },
    });
  } catch (err) {
    await db.cleanup();
    throw err;
  }
  return {
    ...server,
    syncNow: async () => (await server.syncNow()).pypi as SyncReport | undefined,
    syncOciNow: async () => (await server.syncEcosystemNow('oci')) as OciSyncReport | undefined,
    dir,
    config,
    served,
    condaServed,
    async setCondaAllowlist(yaml) {
      await writeFile(join(dir, 'allowlists', 'conda.yaml'), yaml);
      await server.runtime.policies.reload();
    },
    async setAllowlist(yaml) {
      await writeFile(join(dir, 'allowlists', 'pypi.yaml'), yaml);
      await server.runtime.policies.reload();
    },
    async setExceptions(file, yaml) {
      await writeFile(join(dir, 'exceptions', file), yaml);
      await server.runtime.policies.reload();
    },
    async setOciAllowlist(yaml) {
      await writeFile(join(dir, 'allowlists', 'oci.yaml'), yaml);
      await server.runtime.policies.reload();
    },
    async stop() {
      await server.close();
      await db.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes a configuration for the `safelist` CLI run beside a test server on PostgreSQL: the
 * server's storage folder, database and policy folders, then `lines` (more YAML sections).
 * Returns its path.
 */
export async function writeCliConfigBeside(sl: TestSafelist, path: string, lines: string[] = []): Promise<string> {
  const url = sl.config.database.url;
  if (!url) throw new Error('writeCliConfigBeside: the server runs on embedded PGlite; the CLI would open the same folder');
  const yaml = [
    `storage: { kind: fs, path: ${join(sl.dir, 'blobs')} }`,
    `database: { url: "${url}" }`,
    `policy: { allowlistDir: ${join(sl.dir, 'allowlists')}, exceptionsDir: ${join(sl.dir, 'exceptions')} }`,
    ...lines,
    '',
  ];
  await writeFile(path, yaml.join('\n'));
  return path;
}
