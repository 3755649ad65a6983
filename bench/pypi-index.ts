// Benchmark of the PyPI read path: the same project page served by Safelist, by a bare fastify
// route (bench/bare-fastify.ts: the identical bytes and headers from a Buffer, the framework's
// ceiling, so Safelist's own cost shows apart from fastify's), by nginx (the identical bytes as a
// static file: the physical limit of serving a page over HTTP here) and by pypiserver (the common
// peer; optional, see bench/pypiserver.ts), in one run, under the same wrk load. Prints
// requests/s, latency percentiles, each server's CPU time per request (utime + stime from
// /proc/PID/stat over the wrk run, divided by the requests served: steadier than req/s on a shared
// machine), the ratios, and Safelist's resident memory.
//
//   npm run build && npx tsx bench/pypi-index.ts [--duration 10] [--rounds 1] [--projects 10000] [--versions 2000]
//     [--pages small-html,small-json,big-html,big-json]
//
// Scenarios: a small project page in a catalog of N projects; a project with M versions.
// Safelist, bare fastify and pypiserver run as separate processes; nginx with one worker process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { pypiserverSource, startPypiserver, type Pypiserver } from './pypiserver.js';
import { startNginx } from '../test/support/nginx-upstream.js';
import { freePort, waitForHttp } from '../test/support/ports.js';
import { bareFastifyFlags, cliNodeFlags } from './node-flags.js';
import { seedPypiCatalog, writeConfigAndSeed } from './pypi-catalog.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    /** Split each server's --duration into this many alternated runs and report the medians (steadier on a shared machine). */
    rounds: { type: 'string', default: '1' },
    projects: { type: 'string', default: '10000' },
    versions: { type: 'string', default: '2000' },
    /** Which scenarios to load (comma-separated): small-html, small-json, big-html, big-json. */
    pages: { type: 'string', default: 'small-html,small-json,big-html,big-json' },
    keep: { type: 'boolean', default: false },
    /** Run Safelist on a PostgreSQL server instead of the embedded PGlite. */
    'database-url': { type: 'string' },
    /** Also run a replica-mode Safelist (PostgreSQL server + Azure Blob on Azurite) on the same pages. */
    replica: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Number(args.rounds));
const CONNECTIONS = Number(args.connections);
const PROJECTS = Number(args.projects);
const VERSIONS = Number(args.versions);
const ROOT = resolve(import.meta.dirname, '..');
const HTML = 'text/html';
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const SCENARIOS = args.pages.split(',').map((s) => s.trim());
/** The headers Safelist sends with a page that the bare fastify route sends too. */
const PAGE_HEADERS = ['content-type', 'etag', 'cache-control', 'vary'];

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  errors: number;
  /** Requests completed in the run. */
  requests: number;
  /** CPU time (user + system, all threads) the server process spent per request, in µs. */
  cpuUs: number;
}

function need(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
    throw new Error(`${cmd} not found: run scripts/test-deps (Debian package ${pkg})`);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system, every thread) a process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** nginx's only worker process (the master forks it; the master itself idles under load). */
function nginxWorker(masterPid: number): number {
  const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`nginx should run exactly one worker, found ${children.length}`);
  return Number(children[0]);
}

/** wrk against `url`, with the CPU time the serving process `pid` spent during the run. */
function load(url: string, accept: string, pid: number, seconds = DURATION): WrkResult {
  const before = cpuSeconds(pid);
  const r = wrk(url, accept, seconds);
  const cpu = cpuSeconds(pid) - before;
  return { ...r, cpuUs: r.requests > 0 ? (cpu * 1e6) / r.requests : NaN };
}

/** The median of each figure over several runs of one server (latency percentiles: the run with the median req/s). */
function medianRun(runs: WrkResult[]): WrkResult {
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const byRps = [...runs].sort((a, b) => a.rps - b.rps)[runs.length >> 1]!;
  return {
    ...byRps,
    rps: median(runs.map((r) => r.rps)),
    cpuUs: median(runs.map((r) => r.cpuUs)),
    requests: runs.reduce((n, r) => n + r.requests, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

function wrk(url: string, accept: string, seconds = DURATION): Omit<WrkResult, 'cpuUs'> {
  const out = spawnSync(
    'wrk',
    ['-t2', `-c${CONNECTIONS}`, `-d${Math.max(1, Math.round(seconds))}s`, '--latency', '-H', `Accept: ${accept}`, url],
    {
      encoding: 'utf8',
    },
  );
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  return { rps, p50, p99, errors, requests };
}

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
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
    const port = await freePort();
    process.stdout.write(`seeding ${PROJECTS * 2 + VERSIONS} files in ${PROJECTS + 1} projects ... `);
    const { configFile, names, catalog, packages } = await seedPypiCatalog(work, {
      projects: PROJECTS,
      versions: VERSIONS,
      port,
      databaseUrl: args['database-url'],
    });
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
    const pages: Record<string, { path: string; accept: string; bytes: number; headers: Record<string, string> }> = {};
    const bodies: Record<string, Buffer> = {};
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
      const headers: Record<string, string> = {};
      for (const h of PAGE_HEADERS) {
        const v = res.headers.get(h);
        if (v !== null) headers[h] = v;
      }
      pages[key] = { path: `/${project}/`, accept, bytes: body.length, headers };
      bodies[key] = body;
    }
    const nginx = await startNginx({ root: www, types: { json: JSON_TYPE } });
    stoppers.push(nginx.stop);
    const nginxPort = nginx.port;
    const nginxPid = nginxWorker(nginx.pid);
    const fastify = await startBareFastify(work, pages, children);
    const fileOf = (key: string) => `${key}.${key.endsWith('json') ? 'json' : 'html'}`;
    for (const key of Object.keys(pages)) {
      for (const [server, url] of [
        ['nginx', `http://127.0.0.1:${nginxPort}/${fileOf(key)}`],
        ['bare fastify', `${fastify.url}/${key}`],
      ] as const) {
        const res = await fetch(url, { headers: { accept: pages[key]!.accept } });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || !body.equals(bodies[key]!))
          throw new Error(`${server} does not serve ${key} as Safelist did (status ${res.status}, ${body.length} bytes)`);
      }
    }

    // pypiserver is an optional peer: its source is never part of this repository.
    const source = pypiserverSource();
    if ('missing' in source) process.stdout.write(`pypiserver skipped: ${source.missing}\n`);
    else pypiserver = await startPypiserver({ packagesDir: packages, backend: 'cached-dir' });
    const psBase = pypiserver?.url.replace(/\/$/, '');

    const rows: string[] = [];
    const ratios: Array<{ scenario: string; safelist: WrkResult; fastify: WrkResult; nginx: WrkResult; vsPypiserver?: number }> = [];
    const line = (s: string, server: string, r: WrkResult) =>
      rows.push(
        `${s.padEnd(34)} ${server.padEnd(12)} ${r.rps.toFixed(0).padStart(9)} req/s  p50 ${r.p50.padStart(8)}  p99 ${r.p99.padStart(8)}  CPU ${r.cpuUs.toFixed(1).padStart(7)} µs/req${r.errors ? `  ERRORS ${r.errors}` : ''}`,
      );
    // Warm-up of every server (JIT, Safelist's rendered-document cache), so that no run pays for its first requests.
    for (const key of SCENARIOS) {
      const accept = pages[key]!.accept;
      for (const url of [`${base}${pages[key]!.path}`, `${fastify.url}/${key}`, `http://127.0.0.1:${nginxPort}/${fileOf(key)}`])
        wrk(url, accept, 2);
    }
    for (const [key, title] of [
      ['small-html', `2-file page, ${PROJECTS} projects, HTML`],
      ['small-json', `2-file page, ${PROJECTS} projects, JSON`],
      ['big-html', `${VERSIONS}-version page, HTML`],
      ['big-json', `${VERSIONS}-version page, JSON`],
    ] as const) {
      if (!SCENARIOS.includes(key)) continue;
      const page = pages[key]!;
      // Back to back, round after round, so the three see about the same machine load; medians of the rounds.
      const runs: WrkResult[][] = [[], [], []];
      for (let round = 0; round < ROUNDS; round++) {
        runs[0]!.push(load(`${base}${page.path}`, page.accept, safelist.pid!, DURATION / ROUNDS));
        runs[1]!.push(load(`${fastify.url}/${key}`, page.accept, fastify.pid, DURATION / ROUNDS));
        runs[2]!.push(load(`http://127.0.0.1:${nginxPort}/${fileOf(key)}`, page.accept, nginxPid, DURATION / ROUNDS));
      }
      const [s, f, n] = runs.map(medianRun) as [WrkResult, WrkResult, WrkResult];
      line(`${title} (${(page.bytes / 1024).toFixed(1)} KiB)`, 'safelist', s);
      line('', 'bare fastify', f);
      line('', 'nginx', n);
      const entry: (typeof ratios)[number] = { scenario: title, safelist: s, fastify: f, nginx: n };
      if (psBase && key.endsWith('html')) {
        const p = wrk(`${psBase}${page.path}`, HTML);
        line('', 'pypiserver', { ...p, cpuUs: NaN });
        entry.vsPypiserver = s.rps / p.rps;
      }
      ratios.push(entry);
      if (s.errors) throw new Error(`Safelist answered errors under load in "${title}"`);
    }
    const loaded = rss(safelist.pid!);
    process.stdout.write(
      `\nwrk -t2 -c${CONNECTIONS} -d${DURATION}s${ROUNDS > 1 ? ` in ${ROUNDS} alternated rounds (medians)` : ''} on ${spawnSync('nproc').stdout.toString().trim()} cores; nginx 1 worker; pypiserver ${pypiserver?.url ?? 'skipped'}; load average ${loadAverage()}\n\n`,
    );
    process.stdout.write(rows.join('\n') + '\n\n');
    // CPU ratios are "how many of Safelist's requests fit in the reference's CPU time per request":
    // the reference's µs/req over Safelist's, so that 1.0 is parity and higher is better, like req/s.
    process.stdout.write('ratios: req/s (CPU per request, reference µs / Safelist µs)\n');
    for (const r of ratios) {
      const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
      process.stdout.write(
        `${r.scenario.padEnd(34)} safelist/fastify ${x(r.safelist.rps, r.fastify.rps)} (CPU ${x(r.fastify.cpuUs, r.safelist.cpuUs)}) target >= 0.85` +
          `   safelist/nginx ${x(r.safelist.rps, r.nginx.rps)} (CPU ${x(r.nginx.cpuUs, r.safelist.cpuUs)}) target >= 0.5` +
          `${r.vsPypiserver !== undefined ? `   safelist/pypiserver ${r.vsPypiserver.toFixed(0)}x (target >= 50)` : ''}\n`,
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

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** bench/bare-fastify.ts in its own process, with Safelist's node flags, serving each page at /{key}. */
async function startBareFastify(
  work: string,
  pages: Record<string, { headers: Record<string, string> }>,
  children: ChildProcess[],
): Promise<{ url: string; pid: number }> {
  const list = Object.entries(pages).map(([key, p]) => ({
    url: `/${key}`,
    file: join(work, 'www', `${key}.${key.endsWith('json') ? 'json' : 'html'}`),
    headers: p.headers,
  }));
  const pagesFile = join(work, 'bare-fastify-pages.json');
  await writeFile(pagesFile, JSON.stringify(list));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...bareFastifyFlags(ROOT), join(ROOT, 'bench', 'bare-fastify.ts'), '--port', String(port), '--pages', pagesFile],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 30_000, () => child.exitCode === null);
  return { url, pid: child.pid! };
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
    await writeConfigAndSeed(
      configFile,
      work,
      [
        `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
        `storage: { kind: azure, azure: { connectionString: "${azurite.connectionString}", container: bench } }`,
        `database: { url: "${pgdb.url}" }`,
      ],
      catalog,
    );
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
    for (const page of Object.values(pages)) wrk(`http://127.0.0.1:${port}/pypi/default/simple${page.path}`, page.accept, 2);
    process.stdout.write(`\nreplica mode (PostgreSQL server + Azure Blob on Azurite) vs embedded (PGlite + folder), same pages:\n`);
    for (const [key, page] of Object.entries(pages)) {
      // Back to back, embedded then replica, so both see the same machine load.
      const e = wrk(`${embeddedBase}${page.path}`, page.accept);
      const r = wrk(`http://127.0.0.1:${port}/pypi/default/simple${page.path}`, page.accept);
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
