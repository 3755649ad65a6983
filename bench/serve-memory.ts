// Where `safelist serve`'s resident memory goes, and whether a change to the in-memory catalog
// changed what is served: seeds one PyPI catalog per size (on PostgreSQL or PGlite), then starts
// each given build of the CLI on the same database and reports, 2 s after /readyz, VmRSS/VmHWM
// (/proc) and process.memoryUsage() before and after a full collection (a probe module loaded
// with --import answers SIGUSR2), and the sha256 of a set of served pages (simple index, project
// pages in HTML and JSON, with yanked, metadata-less and upstream-only files among them). Pages
// that differ between builds are named. Never run by the tests; nothing here asserts on time.
//
//   npm run build && npx tsx bench/serve-memory.ts --db pg --files 0,22000,100000
//   npx tsx bench/serve-memory.ts --db pglite --files 22000 --cli dist/cli/main.js --cli ../old/dist/cli/main.js
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PypiCatalog, type PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { openStateDb } from '../src/ecosystems/index.js';
import { createPgDatabase } from '../test/support/databases.js';
import { freePort } from '../test/support/ports.js';
import { cliNodeFlags } from './node-flags.js';
import { writeServeFolder } from './serve-folder.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '0,22000' },
    'per-project': { type: 'string', default: '10' },
    db: { type: 'string', default: 'pg' },
    cli: { type: 'string', multiple: true, default: ['dist/cli/main.js'] },
    /** Node.js options for the served process after the CLI's own, e.g. "--max-semi-space-size=1". */
    'serve-node-options': { type: 'string', default: '' },
  },
});
const ROOT = resolve(import.meta.dirname, '..');
const SIZES = args.files.split(',').map(Number);
const PER_PROJECT = Number(args['per-project']);
const CLIS = args.cli.map((c) => resolve(ROOT, c));
const MODE = args.db as 'pg' | 'pglite';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** File i: most like a synced PyPI file; every few one upstream-only, yanked, without metadata or times. */
function fileAt(i: number): PypiFile {
  const project = `mem-${String(Math.floor(i / PER_PROJECT)).padStart(6, '0')}`;
  const version = `${1 + (i % PER_PROJECT)}.0.${i % 7}`;
  const filename = `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  return {
    sha256: sha(`mem/${i}`),
    project,
    displayName: i % 11 === 0 ? project.toUpperCase() : project,
    version,
    filename,
    size: i % 13 === 0 ? 0 : 10_000 + (i % 5000),
    requiresPython: i % 3 === 0 ? null : '>=3.9',
    uploadTime: i % 17 === 0 ? null : new Date(Date.UTC(2024, 0, 1) + i * 60_123),
    yanked: i % 19 === 0 ? '' : i % 23 === 0 ? `broken build ${i}` : null,
    metadataSha256: i % 5 === 0 ? null : sha(`mem/${i}/metadata`),
    stored: i % 13 !== 0,
    metadataStored: i % 5 !== 0 && i % 13 !== 0,
    source: 'pypi',
    sourceUrl:
      i % 29 === 0
        ? null
        : i % 31 === 0
          ? `https://mirror.example/x/${i}?file=${filename}`
          : `https://files.example/packages/${sha(`dir/${i}`).slice(0, 2)}/${filename}`,
  };
}

async function seed(dbOpts: { url?: string; pglitePath: string }, from: number, to: number): Promise<void> {
  const db = await openStateDb(dbOpts);
  try {
    const catalog = new PypiCatalog(db);
    for (let i = from; i < to; i += 5000) {
      const batch = Array.from({ length: Math.min(5000, to - i) }, (_, k) => fileAt(i + k));
      await db.tx((q) => catalog.upsert(batch, q));
    }
  } finally {
    await db.close();
  }
}

const PROBE = `
import { writeFileSync } from 'node:fs';
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  globalThis.gc?.();
  const after = process.memoryUsage();
  writeFileSync(process.env.MEMPROBE_OUT, JSON.stringify({ before, after }));
});
`;

interface Measured {
  rss: number;
  hwm: number;
  heapUsed: number;
  heapUsedAfterGc: number;
  external: number;
  pages: Map<string, string>;
}

const MIB = 1024 * 1024;

async function measure(work: string, cli: string, dbLine: string, projects: number): Promise<Measured> {
  const port = await freePort();
  const dir = await mkdtemp(join(work, 'serve-'));
  const names = Array.from({ length: projects }, (_, i) => `mem-${String(i).padStart(6, '0')}`);
  const config = await writeServeFolder(dir, port, dbLine, ['placeholder', ...names]);
  const probe = join(dir, 'probe.mjs');
  const out = join(dir, 'probe.json');
  await writeFile(probe, PROBE);
  const flags = [...cliNodeFlags(cli), ...args['serve-node-options'].split(' ').filter(Boolean), '--expose-gc', '--import', probe];
  const child = spawn(process.execPath, [...flags, cli, '--config', config, 'serve'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, MEMPROBE_OUT: out },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const t0 = performance.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`safelist serve exited with ${child.exitCode}`);
      if (
        await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (performance.now() - t0 > 300_000) throw new Error('safelist serve not ready after 300 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    child.kill('SIGUSR2');
    let probed: { before: NodeJS.MemoryUsage; after: NodeJS.MemoryUsage } | undefined;
    for (let i = 0; i < 200 && !probed; i++) {
      probed = await readFile(out, 'utf8').then(
        (t) => JSON.parse(t) as typeof probed,
        () => undefined,
      );
      if (!probed) await new Promise((r) => setTimeout(r, 50));
    }
    if (!probed) throw new Error('the memory probe did not answer');
    const pages = new Map<string, string>();
    const ask = async (path: string, accept: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { accept } });
      const body = Buffer.from(await r.arrayBuffer());
      pages.set(`${path} ${accept}`, `${r.status} ${r.headers.get('etag') ?? ''} ${createHash('sha256').update(body).digest('hex')}`);
    };
    await ask('/pypi/default/simple/', 'text/html');
    for (const k of [0, 1, 2, 3, 7, 11, 1234, projects - 1]) {
      if (k < 0 || k >= projects) continue;
      await ask(`/pypi/default/simple/${names[k]}/`, 'text/html');
      await ask(`/pypi/default/simple/${names[k]}/`, 'application/vnd.pypi.simple.v1+json');
    }
    return {
      rss: kib('VmRSS') / 1024,
      hwm: kib('VmHWM') / 1024,
      heapUsed: probed.before.heapUsed / MIB,
      heapUsedAfterGc: probed.after.heapUsed / MIB,
      external: probed.after.external / MIB,
      pages,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-serve-memory-'));
  const drops: Array<() => Promise<void>> = [];
  const load = loadavg();
  try {
    let dbOpts: { url?: string; pglitePath: string };
    let dbLine: string;
    if (MODE === 'pg') {
      const d = await createPgDatabase();
      drops.push(d.drop);
      dbOpts = { url: d.url, pglitePath: 'memory://' };
      dbLine = `database: { url: "${d.url}" }`;
    } else {
      dbOpts = { pglitePath: join(work, 'pglite') };
      dbLine = `database: { pglitePath: ${join(work, 'pglite')} }`;
    }
    let seeded = 0;
    for (const files of [...SIZES].sort((a, b) => a - b)) {
      await seed(dbOpts, seeded, files);
      seeded = files;
      const projects = Math.ceil(files / PER_PROJECT);
      const first = new Map<string, string>();
      for (const cli of CLIS) {
        const m = await measure(work, cli, dbLine, projects);
        const differ = first.size ? [...m.pages].filter(([k, v]) => first.get(k) !== v).map(([k]) => k) : [];
        if (!first.size) for (const [k, v] of m.pages) first.set(k, v);
        const f = (n: number) => n.toFixed(1);
        process.stdout.write(
          `${MODE} ${files} files ${cli}: VmRSS ${f(m.rss)} MiB (VmHWM ${f(m.hwm)}); heapUsed ${f(m.heapUsed)} MiB, ` +
            `${f(m.heapUsedAfterGc)} after gc; external ${f(m.external)} MiB; ${m.pages.size} pages` +
            `${CLIS.length > 1 && cli !== CLIS[0] ? (differ.length ? `, DIFFERENT from the first build: ${differ.join('; ')}` : ', identical to the first build') : ''}\n`,
        );
      }
    }
  } finally {
    for (const d of drops) await d();
    await rm(work, { recursive: true, force: true });
    process.stdout.write(
      `load average before ${load.map((n) => n.toFixed(1)).join(' ')}, after ${loadavg()
        .map((n) => n.toFixed(1))
        .join(' ')}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
