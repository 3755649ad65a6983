// Benchmark of the PyPI read path: the same project page served by Safelist, by nginx (the
// identical bytes as a static file: the physical limit of serving a page over HTTP here) and
// by pypiserver (the common peer; optional, see bench/pypiserver.ts), in one run, under the same wrk load. Prints requests/s,
// latency percentiles, the ratios against both, and Safelist's resident memory.
//
//   npm run build && npx tsx bench/pypi-index.ts [--duration 10] [--projects 10000] [--versions 2000]
//
// Scenarios: a small project page in a catalog of N projects; a project with M versions.
// Safelist and pypiserver run as separate processes; nginx with one worker process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openRuntime } from '../src/runtime.js';
import type { PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { pypiserverSource, startPypiserver, type Pypiserver } from './pypiserver.js';
import { startNginx } from '../test/support/nginx-upstream.js';
import { freePort, waitForHttp } from '../test/support/ports.js';
import { openedPypi } from '../src/ecosystems/pypi/module.js';
import { cliNodeFlags } from './node-flags.js';
import { configSchema } from '../src/ecosystems/index.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    projects: { type: 'string', default: '10000' },
    versions: { type: 'string', default: '2000' },
    keep: { type: 'boolean', default: false },
    /** Run Safelist on a PostgreSQL server instead of the embedded PGlite. */
    'database-url': { type: 'string' },
    /** Also run a replica-mode Safelist (PostgreSQL server + Azure Blob on Azurite) on the same pages. */
    replica: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const PROJECTS = Number(args.projects);
const VERSIONS = Number(args.versions);
const ROOT = resolve(import.meta.dirname, '..');
const HTML = 'text/html';
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  errors: number;
}

function need(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
    throw new Error(`${cmd} not found: run scripts/test-deps (Debian package ${pkg})`);
}

async function wrk(url: string, accept: string, seconds = DURATION): Promise<WrkResult> {
  const out = spawnSync('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `Accept: ${accept}`, url], {
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50, p99, errors };
}

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
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

async function main(): Promise<void> {
  need('wrk', 'wrk');
  need('nginx', 'nginx-light');
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-'));
  const children: ChildProcess[] = [];
  const stoppers: Array<() => Promise<void>> = [];
  let pypiserver: Pypiserver | undefined;
  try {
    // The same catalog for Safelist and pypiserver: PROJECTS projects with 2 wheels each,
    // and one project with VERSIONS versions. pypiserver hashes real files on disk.
    const packages = join(work, 'packages');
    await mkdir(packages);
    await mkdir(join(work, 'allowlists'));
    await mkdir(join(work, 'exceptions'));
    const names = Array.from({ length: PROJECTS }, (_, i) => `proj-${String(i).padStart(5, '0')}`);
    const catalog: PypiFile[] = [];
    const addFile = async (project: string, version: string) => {
      const bytes = randomBytes(256);
      const rec = fileRecord(project, version, createHash('sha256').update(bytes).digest('hex'), bytes.length);
      catalog.push(rec);
      await writeFile(join(packages, rec.filename), bytes);
    };
    for (const n of names) for (const v of ['1.0', '1.1']) await addFile(n, v);
    for (let i = 0; i < VERSIONS; i++) await addFile('big-project', `${i}.0`);
    await writeFile(join(work, 'allowlists', 'pypi.yaml'), `packages:\n${[...names, 'big-project'].map((n) => `  - ${n}`).join('\n')}\n`);
    const port = await freePort();
    const configFile = join(work, 'safelist.yaml');
    await writeFile(
      configFile,
      [
        'server: { host: 127.0.0.1, port: ' + port + ', logLevel: warn }',
        `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
        args['database-url'] ? `database: { url: "${args['database-url']}" }` : `database: { pglitePath: ${join(work, 'pglite')} }`,
        `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
        "sync: { schedule: '' }",
        '',
      ].join('\n'),
    );
    const config = configSchema.parse((await import('yaml')).parse(readFileSync(configFile, 'utf8')));
    process.stdout.write(`seeding ${catalog.length} files in ${PROJECTS + 1} projects ... `);
    const rt = await openRuntime(config);
    for (let i = 0; i < catalog.length; i += 1000) {
      await rt.db.tx((q) => openedPypi(rt).catalog.upsert(catalog.slice(i, i + 1000), q));
    }
    await rt.close();
    process.stdout.write('done\n');

    const safelist = spawn(
      process.execPath,
      [...cliNodeFlags(join(ROOT, 'dist', 'cli', 'main.js')), join(ROOT, 'dist', 'cli', 'main.js'), '--config', configFile, 'serve'],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    children.push(safelist);
    const base = `http://127.0.0.1:${port}/pypi/default/simple`;
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, () => safelist.exitCode === null);
    const idle = rss(safelist.pid!);

    // nginx: one worker, serving the exact bytes Safelist produced, with the same types.
    const www = join(work, 'www');
    await mkdir(www);
    const pages: Record<string, { path: string; accept: string; bytes: number }> = {};
    for (const [key, project, accept, ext] of [
      ['small-html', names[Math.floor(PROJECTS / 2)]!, HTML, 'html'],
      ['small-json', names[Math.floor(PROJECTS / 2)]!, JSON_TYPE, 'json'],
      ['big-html', 'big-project', HTML, 'html'],
      ['big-json', 'big-project', JSON_TYPE, 'json'],
    ] as const) {
      const res = await fetch(`${base}/${project}/`, { headers: { accept } });
      if (!res.ok) throw new Error(`Safelist answered ${res.status} for ${project}`);
      const body = Buffer.from(await res.arrayBuffer());
      await writeFile(join(www, `${key}.${ext}`), body);
      pages[key] = { path: `/${project}/`, accept, bytes: body.length };
    }
    const nginx = await startNginx({ root: www, types: { json: JSON_TYPE } });
    stoppers.push(nginx.stop);
    const nginxPort = nginx.port;
    for (const key of Object.keys(pages)) {
      const file = `${key}.${key.endsWith('json') ? 'json' : 'html'}`;
      const res = await fetch(`http://127.0.0.1:${nginxPort}/${file}`, { headers: { accept: pages[key]!.accept } });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || body.length !== pages[key]!.bytes)
        throw new Error(`nginx does not serve ${file} as Safelist did (status ${res.status}, ${body.length} bytes)`);
    }

    // pypiserver is an optional peer: its source is never part of this repository.
    const source = pypiserverSource();
    if ('missing' in source) process.stdout.write(`pypiserver skipped: ${source.missing}\n`);
    else pypiserver = await startPypiserver({ packagesDir: packages, backend: 'cached-dir' });
    const psBase = pypiserver?.url.replace(/\/$/, '');

    const rows: string[] = [];
    const ratios: Array<{ scenario: string; vsNginx: number; vsPypiserver?: number }> = [];
    const line = (s: string, server: string, r: WrkResult) =>
      rows.push(
        `${s.padEnd(34)} ${server.padEnd(11)} ${r.rps.toFixed(0).padStart(9)} req/s  p50 ${r.p50.padStart(8)}  p99 ${r.p99.padStart(8)}${r.errors ? `  ERRORS ${r.errors}` : ''}`,
      );
    for (const [key, title] of [
      ['small-html', `2-file page, ${PROJECTS} projects, HTML`],
      ['small-json', `2-file page, ${PROJECTS} projects, JSON`],
      ['big-html', `${VERSIONS}-version page, HTML`],
      ['big-json', `${VERSIONS}-version page, JSON`],
    ] as const) {
      const page = pages[key]!;
      const s = await wrk(`${base}${page.path}`, page.accept);
      const n = await wrk(`http://127.0.0.1:${nginxPort}/${key}.${key.endsWith('json') ? 'json' : 'html'}`, page.accept);
      line(`${title} (${(page.bytes / 1024).toFixed(1)} KiB)`, 'safelist', s);
      line('', 'nginx', n);
      const entry: (typeof ratios)[number] = { scenario: title, vsNginx: s.rps / n.rps };
      if (psBase && key.endsWith('html')) {
        const p = await wrk(`${psBase}${page.path}`, HTML);
        line('', 'pypiserver', p);
        entry.vsPypiserver = s.rps / p.rps;
      }
      ratios.push(entry);
      if (s.errors) throw new Error(`Safelist answered errors under load in "${title}"`);
    }
    const loaded = rss(safelist.pid!);
    process.stdout.write(
      `\nwrk -t2 -c${CONNECTIONS} -d${DURATION}s on ${spawnSync('nproc').stdout.toString().trim()} cores; nginx 1 worker; pypiserver ${pypiserver?.url ?? 'skipped'}\n\n`,
    );
    process.stdout.write(rows.join('\n') + '\n\n');
    for (const r of ratios) {
      process.stdout.write(
        `${r.scenario.padEnd(34)} safelist/nginx ${r.vsNginx.toFixed(2)}x (target >= 0.5)${r.vsPypiserver !== undefined ? `   safelist/pypiserver ${r.vsPypiserver.toFixed(0)}x (target >= 50)` : ''}\n`,
      );
    }
    if (args.replica) await replicaMode(work, catalog, base, pages, children);
    process.stdout.write(
      `\nSafelist on ${args['database-url'] ? 'PostgreSQL server' : 'embedded PGlite'}; resident memory: ${idle.rssMiB.toFixed(0)} MiB after start with ${catalog.length} files; ${loaded.rssMiB.toFixed(0)} MiB after the load (peak ${loaded.peakMiB.toFixed(0)} MiB)\n`,
    );
  } finally {
    await pypiserver?.stop();
    for (const stop of stoppers) await stop();
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (!args.keep) await rm(work, { recursive: true, force: true });
  }
}

/**
 * The same catalog and pages on a Safelist in replica mode (PostgreSQL server, Azure Blob on
 * Azurite): cached index pages never touch either, so the target is >= 0.9x the embedded mode.
 */
async function replicaMode(
  work: string,
  catalog: PypiFile[],
  embeddedBase: string,
  pages: Record<string, { path: string; accept: string; bytes: number }>,
  children: ChildProcess[],
): Promise<void> {
  const { startAzurite } = await import('../test/support/azurite.js');
  const { createPgDatabase } = await import('../test/support/databases.js');
  const azurite = await startAzurite();
  const pgdb = await createPgDatabase();
  try {
    const port = await freePort();
    const configFile = join(work, 'replica.yaml');
    await writeFile(
      configFile,
      [
        `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
        `storage: { kind: azure, azure: { connectionString: "${azurite.connectionString}", container: bench } }`,
        `database: { url: "${pgdb.url}" }`,
        `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
        "sync: { schedule: '' }",
        '',
      ].join('\n'),
    );
    const config = configSchema.parse((await import('yaml')).parse(readFileSync(configFile, 'utf8')));
    const rt = await openRuntime(config);
    for (let i = 0; i < catalog.length; i += 1000) await rt.db.tx((q) => openedPypi(rt).catalog.upsert(catalog.slice(i, i + 1000), q));
    await rt.close();
    const replica = spawn(
      process.execPath,
      [...cliNodeFlags(join(ROOT, 'dist', 'cli', 'main.js')), join(ROOT, 'dist', 'cli', 'main.js'), '--config', configFile, 'serve'],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    children.push(replica);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, () => replica.exitCode === null);
    // Warm up the new process (JIT, rendered-document cache) as the embedded one already is.
    for (const page of Object.values(pages)) await wrk(`http://127.0.0.1:${port}/pypi/default/simple${page.path}`, page.accept, 2);
    process.stdout.write(`\nreplica mode (PostgreSQL server + Azure Blob on Azurite) vs embedded (PGlite + folder), same pages:\n`);
    for (const [key, page] of Object.entries(pages)) {
      // Back to back, embedded then replica, so both see the same machine load.
      const e = await wrk(`${embeddedBase}${page.path}`, page.accept);
      const r = await wrk(`http://127.0.0.1:${port}/pypi/default/simple${page.path}`, page.accept);
      process.stdout.write(
        `  ${key.padEnd(11)} replica ${r.rps.toFixed(0).padStart(7)} req/s  embedded ${e.rps.toFixed(0).padStart(7)} req/s  ratio ${(r.rps / e.rps).toFixed(2)}x (target >= 0.9)${r.errors ? `  ERRORS ${r.errors}` : ''}\n`,
      );
    }
    replica.kill('SIGTERM');
  } finally {
    await pgdb.drop();
    await azurite.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
