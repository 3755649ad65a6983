// Benchmark of a large organisation's PyPI catalog: 300,000 files in 30,000 projects, seeded
// straight into the database through PypiCatalog.upsert (batched; no files: only the read path's
// index pages are measured), on embedded PGlite and on a PostgreSQL server (a throw-away database
// on 127.0.0.1:5432). For each, `safelist serve` (the built CLI, a child process) is started at
// a third, two thirds and all of the catalog, and on a 22,000-file catalog as the reference, and
// the bench prints: start-up time to /readyz, resident memory (VmRSS/VmHWM from /proc) and its
// growth per 100,000 files, and small-page latency (p50/p95, sequential and concurrent clients) of
// the full catalog against the reference, both serving at once, in rounds taken in turn.
//
//   npm run build && npx tsx bench/scale.ts                      # 60,000 files / 6,000 projects, both modes
//   npx tsx bench/scale.ts --files 300000 --projects 30000       # full size
//   npx tsx bench/scale.ts --db pg --requests 5000 --clients 4 --rounds 12
//   npx tsx bench/scale.ts --serve-node-options=--max-semi-space-size=16  # more Node.js flags after the CLI's own (its first line)
//
// Targets: start <= 20 s, latency unchanged from the 22,000-file catalog; embedded serve <= 250 MiB
// at 22,000 files, <= 150 MiB on PostgreSQL. Never run by the tests; nothing here asserts on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, get } from 'node:http';
import { PypiCatalog, type PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { createPgDatabase } from '../test/support/databases.js';
import { freePort } from '../test/support/ports.js';
import { cliNodeFlags } from './node-flags.js';
import { writeServeFolder } from './serve-folder.js';
import { openStateDb } from '../src/ecosystems/index.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '60000' },
    projects: { type: 'string', default: '6000' },
    'reference-files': { type: 'string', default: '22000' },
    db: { type: 'string', default: 'both' },
    requests: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '4' },
    /** Latency rounds per catalog, taken in turn with the reference's (see compareLatency). */
    rounds: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
    /** The built CLI to serve with (another build's, to compare). */
    cli: { type: 'string', default: 'dist/cli/main.js' },
    /** Node.js options for the served process, e.g. "--max-semi-space-size=2" (see bench/README.md). */
    'serve-node-options': { type: 'string', default: '' },
  },
});
const FILES = Number(args.files);
const PROJECTS = Number(args.projects);
const REF_FILES = Number(args['reference-files']);
const REQUESTS = Number(args.requests);
const CLIENTS = Number(args.clients);
const ROUNDS = Number(args.rounds);
const ROOT = resolve(import.meta.dirname, '..');
const CLI = resolve(ROOT, args.cli);
const MODES = args.db === 'both' ? (['pglite', 'pg'] as const) : ([args.db] as Array<'pglite' | 'pg'>);

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** File i of a catalog with `perProject` files per project: project i / perProject, version by position. */
function fileAt(prefix: string, i: number, perProject: number): PypiFile {
  const project = `${prefix}-${String(Math.floor(i / perProject)).padStart(6, '0')}`;
  const version = `${1 + (i % perProject)}.0.${i % 7}`;
  const filename = `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  return {
    sha256: sha(`${prefix}/${i}`),
    project,
    displayName: project,
    version,
    filename,
    size: 10_000 + (i % 5000),
    requiresPython: '>=3.9',
    uploadTime: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
    yanked: null,
    metadataSha256: sha(`${prefix}/${i}/metadata`),
    stored: true,
    metadataStored: true,
    source: 'pypi',
    sourceUrl: `https://files.example/packages/${filename}`,
  };
}

/** Adds files [from, to) of a catalog, 5,000 per transaction. */
async function seed(
  dbOpts: { url?: string; pglitePath: string },
  prefix: string,
  from: number,
  to: number,
  perProject: number,
): Promise<number> {
  const t0 = performance.now();
  const db = await openStateDb(dbOpts);
  try {
    const catalog = new PypiCatalog(db);
    for (let i = from; i < to; i += 5000) {
      const batch = Array.from({ length: Math.min(5000, to - i) }, (_, k) => fileAt(prefix, i + k, perProject));
      await db.tx((q) => catalog.upsert(batch, q));
    }
  } finally {
    await db.close();
  }
  return (performance.now() - t0) / 1000;
}

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024;
  return { rss: mib('VmRSS'), hwm: mib('VmHWM') };
}

interface Served {
  child: ChildProcess;
  port: number;
  startS: number;
  stop(): Promise<void>;
}

async function serve(work: string, name: string, dbLine: string, projects: string[]): Promise<Served> {
  const port = await freePort();
  const dir = join(work, name);
  const configFile = await writeServeFolder(dir, port, dbLine, projects);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [...cliNodeFlags(CLI), ...args['serve-node-options'].split(' ').filter(Boolean), CLI, '--config', configFile, 'serve'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`safelist serve exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (performance.now() - t0 > 300_000) throw new Error('safelist serve not ready after 300 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const startS = (performance.now() - t0) / 1000;
  return {
    child,
    port,
    startS,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A client of one served catalog's small project pages (HTML, keep-alive), each page fetched once before (warm cache). */
interface PageClient {
  /** p50/p95 (ms) of REQUESTS pages, `clients` at a time. */
  round(clients: number): Promise<{ p50: number; p95: number }>;
  close(): void;
}

async function pageClient(port: number, projects: string[]): Promise<PageClient> {
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(CLIENTS, 1) });
  const path = (k: number) => `/pypi/default/simple/${projects[(k * 7919) % projects.length]}/`;
  const one = (k: number) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      get({ host: '127.0.0.1', port, path: path(k), agent, headers: { accept: 'text/html' } }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${path(k)} answered ${res.statusCode}`)),
        );
      }).on('error', reject);
    });
  for (let k = 0; k < Math.min(REQUESTS, projects.length); k++) await one(k); // warm: render once
  return {
    async round(clients) {
      const times: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < REQUESTS) times.push(await one(next++));
        }),
      );
      times.sort((a, b) => a - b);
      return { p50: times[Math.floor(times.length * 0.5)]!, p95: times[Math.floor(times.length * 0.95)]! };
    },
    close: () => agent.destroy(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 2) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;

/**
 * Page latency of the full catalog against the reference, both served at once, in ROUNDS rounds
 * taken in turn (ref, big, big, ref, …): one round of REQUESTS pages lasts well under a second,
 * so a round alone catches whatever else the shared machine did in that second; taken in turn,
 * both catalogs see the same machine. Gives the medians over rounds and the range of the ratio
 * of each round pair.
 */
async function compareLatency(ref: PageClient, big: PageClient, clients: number): Promise<string> {
  const r: Array<{ p50: number; p95: number }> = [];
  const b: Array<{ p50: number; p95: number }> = [];
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) {
      r.push(await ref.round(clients));
      b.push(await big.round(clients));
    } else {
      b.push(await big.round(clients));
      r.push(await ref.round(clients));
    }
  }
  const m = (xs: Array<{ p50: number; p95: number }>) =>
    `${median(xs.map((x) => x.p50)).toFixed(2)}/${median(xs.map((x) => x.p95)).toFixed(2)}`;
  const ratios = (k: 'p50' | 'p95') => r.map((x, i) => b[i]![k] / x[k]);
  return (
    `${clients === 1 ? 'sequential' : `${clients} clients`}: p50/p95 ${m(b)} ms against ${m(r)} ms (medians of ${ROUNDS} rounds of ${REQUESTS}); ` +
    `ratio per round p50 ${range(ratios('p50'))}x (median ${median(ratios('p50')).toFixed(2)}), p95 ${range(ratios('p95'))}x (median ${median(ratios('p95')).toFixed(2)})`
  );
}

const f1 = (n: number) => n.toFixed(1);

async function runMode(work: string, mode: 'pglite' | 'pg', out: string[]): Promise<void> {
  const drops: Array<() => Promise<void>> = [];
  const stops: Array<() => Promise<void>> = [];
  const dbFor = async (name: string) => {
    if (mode === 'pglite')
      return { opts: { pglitePath: join(work, `${name}-pglite`) }, line: `database: { pglitePath: ${join(work, `${name}-pglite`)} }` };
    const d = await createPgDatabase();
    drops.push(d.drop);
    return { opts: { url: d.url, pglitePath: 'memory://' }, line: `database: { url: "${d.url}" }` };
  };
  try {
    const perProject = Math.max(1, Math.round(FILES / PROJECTS));
    const refDb = await dbFor('ref');
    const refSeedS = await seed(refDb.opts, 'ref', 0, REF_FILES, perProject);
    const refProjects = Array.from({ length: Math.ceil(REF_FILES / perProject) }, (_, i) => `ref-${String(i).padStart(6, '0')}`);
    const ref = await serve(work, `${mode}-ref`, refDb.line, refProjects);
    stops.push(() => ref.stop()); // kept serving (idle) until the full catalog's latency was compared with it
    const refMem = memory(ref.child.pid!);
    out.push(
      `${mode}: ${REF_FILES} files: seeded in ${f1(refSeedS)} s; start ${f1(ref.startS)} s; RSS ${f1(refMem.rss)} MiB (peak ${f1(refMem.hwm)})`,
    );

    const bigDb = await dbFor('big');
    const projects = Array.from({ length: Math.ceil(FILES / perProject) }, (_, i) => `big-${String(i).padStart(6, '0')}`);
    const steps = [Math.round(FILES / 3), Math.round((2 * FILES) / 3), FILES];
    let seeded = 0;
    const mems: Array<{ files: number; rss: number; hwm: number; startS: number }> = [];
    for (const files of steps) {
      const seedS = await seed(bigDb.opts, 'big', seeded, files, perProject);
      seeded = files;
      const s = await serve(work, `${mode}-big-${files}`, bigDb.line, projects);
      const m = memory(s.child.pid!);
      mems.push({ files, ...m, startS: s.startS });
      out.push(
        `${mode}: ${files} files in ${Math.ceil(files / perProject)} projects: seeded +${f1(seedS)} s; start ${f1(s.startS)} s (target <= 20); RSS ${f1(m.rss)} MiB (peak ${f1(m.hwm)})`,
      );
      if (files === FILES) {
        const refClient = await pageClient(ref.port, refProjects);
        const bigClient = await pageClient(s.port, projects);
        for (const clients of [1, CLIENTS])
          out.push(`${mode}: ${files} files against ${REF_FILES}, ${await compareLatency(refClient, bigClient, clients)}`);
        refClient.close();
        bigClient.close();
      }
      await s.stop();
    }
    const a = mems[0]!;
    const b = mems[mems.length - 1]!;
    const per100k = (x: number, y: number) => ((y - x) / (b.files - a.files)) * 100_000;
    out.push(
      `${mode}: growth per 100,000 files: RSS +${f1(per100k(a.rss, b.rss))} MiB, peak +${f1(per100k(a.hwm, b.hwm))} MiB, start +${f1(per100k(a.startS, b.startS))} s; ` +
        `target at ${REF_FILES} files: ${mode === 'pg' ? '<= 150' : '<= 250'} MiB`,
    );
  } finally {
    for (const stop of stops) await stop();
    for (const d of drops) await d();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-scale-'));
  const out: string[] = [];
  const before = loadavg();
  try {
    for (const mode of MODES) {
      await runMode(work, mode, out);
      process.stdout.write(
        out
          .splice(0)
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
  } finally {
    process.stdout.write(`serve ran with node ${[...cliNodeFlags(CLI), args['serve-node-options']].join(' ').trim() || '(no flags)'}\n`);
    process.stdout.write(`load average before ${before.map(f1).join(' ')}, after ${loadavg().map(f1).join(' ')} (2 cores, shared)\n`);
    if (!args.keep) await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
