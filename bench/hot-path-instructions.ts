// Instructions per request on the PyPI read path: Safelist against bare fastify serving the same
// bytes (bench/bare-fastify.ts), each run under valgrind's callgrind, which counts instructions
// whatever else the machine runs (bench/pypi-index.ts's req/s and CPU times swing with the load).
//
//   npm run build && npx tsx bench/hot-path-instructions.ts [--requests 5000] [--warmup 20000]
//     [--pages small-html,small-json] [--attribute] [--keep]
//
// Each server starts under callgrind with instrumentation off, serves `--warmup` sequential
// keep-alive requests (JIT tiers, caches), then counts `--requests` more, then counts the same
// wall time with no request at all (timers, the embedded database's own work) and subtracts it:
// what is left is the work requests cause. The main thread (JavaScript, HTTP, the event loop) is
// printed apart from V8's helper threads (optimising compiler, GC helpers): valgrind runs one
// thread at a time, so a process may still be compiling after its warm-up, and the helpers'
// share varies from run to run. So do a process's inline caches (bench/README.md, "hot path"):
// compare runs, not a single figure.
// --attribute runs the servers with --perf-basic-prof-only-functions and names JIT code from
// Node's perf map: it prints the functions whose own instructions differ most.
// Benchmark only: it needs valgrind (Debian package valgrind), and takes ~5 minutes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/support/ports.js';
import { bareFastifyFlags, cliNodeFlags } from './node-flags.js';
import { seedPypiCatalog } from './pypi-catalog.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '20000' },
    projects: { type: 'string', default: '10000' },
    pages: { type: 'string', default: 'small-html,small-json' },
    attribute: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'database-url': { type: 'string' },
  },
});
const REQUESTS = Number(args.requests);
const WARMUP = Number(args.warmup);
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const ACCEPT: Record<string, string> = { 'small-html': 'text/html', 'small-json': 'application/vnd.pypi.simple.v1+json' };
const PAGE_HEADERS = ['content-type', 'etag', 'cache-control', 'vary'];

interface Counted {
  /** Instructions per request on the main thread, idle subtracted. */
  main: number;
  /** Instructions per request on every other thread, idle subtracted. */
  helpers: number;
  /** Self instructions per request by function (with --attribute), idle not subtracted. */
  byFunction?: Map<string, number>;
}

/** `n` sequential GETs on one keep-alive connection; each must answer 200 with `bytes` bytes. */
function requests(url: string, accept: string, n: number, bytes?: number): Promise<void> {
  const u = new URL(url);
  const req = Buffer.from(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: ${accept}\r\n\r\n`);
  return new Promise((done, fail) => {
    const sock = connect(Number(u.port), u.hostname);
    let buf: Buffer = Buffer.alloc(0);
    let left = n;
    sock.on('error', fail);
    sock.on('connect', () => sock.write(req));
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
        if (buf.length < end + 4 + len) return;
        if (!head.startsWith('HTTP/1.1 200') || (bytes !== undefined && len !== bytes)) {
          sock.destroy();
          fail(new Error(`${url} answered ${head.split('\r\n')[0]} with ${len} bytes`));
          return;
        }
        buf = buf.subarray(end + 4 + len);
        if (--left === 0) {
          sock.end();
          done();
          return;
        }
        sock.write(req);
      }
    });
  });
}

/** A server process under callgrind, instrumentation off until asked. */
class Callgrind {
  private readonly child: ChildProcess;
  private dumps = 0;

  constructor(
    private readonly out: string,
    argv: string[],
  ) {
    this.child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--instr-atstart=no',
        '--separate-threads=yes',
        `--dump-instr=${args.attribute ? 'yes' : 'no'}`,
        `--callgrind-out-file=${out}`,
        ...argv,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.resume();
  }

  get pid(): number {
    return this.child.pid!;
  }

  async ready(url: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (this.child.exitCode !== null) throw new Error(`server under valgrind exited (${this.child.exitCode})`);
      const ok = await fetch(url).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`${url} did not answer within 600 s under valgrind`);
  }

  private control(...flags: string[]): void {
    const r = spawnSync('callgrind_control', [...flags, String(this.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`callgrind_control ${flags.join(' ')}: ${r.stderr}`);
  }

  /** Runs `work` with instrumentation on; returns the dump's files (one per thread, main first). */
  async count(work: () => Promise<unknown>): Promise<string[]> {
    this.control('-z');
    this.control('-i', 'on');
    await work();
    this.control('-i', 'off');
    this.control('-d');
    const part = ++this.dumps;
    const dir = resolve(this.out, '..');
    const prefix = `${this.out.split('/').pop()!.replace('%p', String(this.pid))}.${part}-`;
    const files = readdirSync(dir)
      .filter((f) => f.startsWith(prefix))
      .sort()
      .map((f) => join(dir, f));
    if (!files.length) throw new Error(`callgrind wrote no dump ${prefix}*`);
    return files;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function totalOf(file: string): number {
  // "totals:" is the dump's count ("summary:" is not kept up to date with --instr-atstart=no).
  const m = /^totals: (\d+)/m.exec(readFileSync(file, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Node's perf map (/tmp/perf-PID.map): JIT code ranges and their functions, latest entry first on overlap. */
function perfMap(pid: number): (address: number) => string | undefined {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return () => undefined;
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line, order) => {
      const [start, size, ...name] = line.split(' ');
      // Names carry the tier (JS:*'f … TurboFan, JS:+'f … Maglev, JS:^f … Sparkplug): one name per function.
      const tierless = name.join(' ').replace(/^JS:[*+^~]?'?/, '');
      return { start: parseInt(start!, 16), end: parseInt(start!, 16) + parseInt(size!, 16), name: tierless, order };
    })
    .filter((e) => e.name)
    .sort((a, b) => a.start - b.start);
  return (a) => {
    let best: (typeof entries)[number] | undefined;
    // Entries are short (< 1 MiB): scan back from the last one starting at or before a.
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.start <= a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && entries[i]!.start > a - (1 << 20); i--) {
      const e = entries[i]!;
      if (a < e.end && (!best || e.order > best.order)) best = e;
    }
    return best?.name;
  };
}

/** Self instructions by function from a callgrind dump made with --dump-instr=yes. */
function selfCosts(file: string, jsName: (address: number) => string | undefined, into: Map<string, number>): void {
  const names = new Map<string, string>();
  let fn = '';
  let positions = 1;
  let address = 0;
  let afterCall = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('positions:')) positions = line.split(/\s+/).length - 1;
    else if (line.startsWith('fn=') || line.startsWith('cfn=')) {
      const m = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (m?.[2]) names.set(m[1]!, m[2]);
      if (line.startsWith('fn=')) fn = m ? (names.get(m[1]!) ?? '') : line.slice(3);
    } else if (line.startsWith('calls=')) afterCall = true;
    else if (/^[0-9+*-]/.test(line)) {
      const t = line.split(' ');
      const p = t[0]!;
      address = p === '*' ? address : p[0] === '+' || p[0] === '-' ? address + Number(p) : Number(p);
      if (afterCall) {
        afterCall = false;
        continue;
      }
      const name =
        fn && !fn.startsWith('0x') ? fn.replace(/\((?:[^()]|\([^()]*\))*\)( const)?$/, '') : (jsName(address) ?? 'JIT code (unnamed)');
      into.set(name, (into.get(name) ?? 0) + Number(t[positions] ?? 0));
    }
  }
}

/** Each measure's idle main-thread count as a share of its loaded one (printed: the subtraction's weight). */
const idleShare: number[] = [];

async function measure(server: Callgrind, url: string, accept: string, bytes: number): Promise<Counted> {
  const started = Date.now();
  const loaded = await server.count(() => requests(url, accept, REQUESTS, bytes));
  const elapsed = Date.now() - started;
  const idle = await server.count(() => new Promise((r) => setTimeout(r, elapsed)));
  idleShare.push(totalOf(idle[0]!) / totalOf(loaded[0]!));
  const main = (totalOf(loaded[0]!) - totalOf(idle[0]!)) / REQUESTS;
  const helpers = (loaded.slice(1).reduce((n, f) => n + totalOf(f), 0) - idle.slice(1).reduce((n, f) => n + totalOf(f), 0)) / REQUESTS;
  if (!args.attribute) return { main, helpers };
  const byFunction = new Map<string, number>();
  const js = perfMap(server.pid);
  for (const f of loaded) selfCosts(f, js, byFunction);
  for (const [k, v] of byFunction) byFunction.set(k, v / REQUESTS);
  return { main, helpers, byFunction };
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v valgrind']).status !== 0) throw new Error('valgrind not found (Debian package valgrind)');
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first');
  const pages = args.pages.split(',').map((p) => p.trim());
  for (const p of pages) if (!ACCEPT[p]) throw new Error(`--pages: ${p} is none of ${Object.keys(ACCEPT).join(', ')}`);
  const work = await mkdtemp(join(tmpdir(), 'safelist-instr-'));
  const servers: Callgrind[] = [];
  try {
    const port = await freePort();
    process.stdout.write('seeding ... ');
    const seeded = await seedPypiCatalog(work, { projects: Number(args.projects), versions: 2, port, databaseUrl: args['database-url'] });
    process.stdout.write('done\n');
    const project = seeded.names[Math.floor(seeded.names.length / 2)]!;
    const perf = args.attribute ? ['--perf-basic-prof-only-functions'] : [];
    const results: Record<string, { safelist: Counted; fastify: Counted }> = {};

    const safelist = new Callgrind(join(work, 'safelist.cg.%p'), [
      'node',
      ...perf,
      ...cliNodeFlags(CLI),
      CLI,
      '--config',
      seeded.configFile,
      'serve',
    ]);
    servers.push(safelist);
    const base = `http://127.0.0.1:${port}`;
    await safelist.ready(`${base}/healthz`);
    const served: Array<{ url: string; file: string; headers: Record<string, string>; bytes: number; key: string }> = [];
    const url = `${base}/pypi/default/simple/${project}/`;
    for (const key of pages) {
      const res = await fetch(url, { headers: { accept: ACCEPT[key]! } });
      const body = Buffer.from(await res.arrayBuffer());
      const headers: Record<string, string> = {};
      for (const h of PAGE_HEADERS) if (res.headers.get(h) !== null) headers[h] = res.headers.get(h)!;
      const file = join(work, `${key}.body`);
      await writeFile(file, body);
      served.push({ url: `/${key}`, file, headers, bytes: body.length, key });
    }
    // Every page warmed up before any is counted: the JIT's tiers settle over all of them.
    for (const page of served) await requests(url, ACCEPT[page.key]!, WARMUP, page.bytes);
    for (const page of served)
      results[page.key] = {
        safelist: await measure(safelist, url, ACCEPT[page.key]!, page.bytes),
        fastify: undefined as unknown as Counted,
      };
    await safelist.stop();

    const pagesFile = join(work, 'bare-fastify-pages.json');
    await writeFile(pagesFile, JSON.stringify(served));
    const fport = await freePort();
    const fastify = new Callgrind(join(work, 'fastify.cg.%p'), [
      'node',
      ...perf,
      ...bareFastifyFlags(ROOT),
      join(ROOT, 'bench', 'bare-fastify.ts'),
      '--port',
      String(fport),
      '--pages',
      pagesFile,
    ]);
    servers.push(fastify);
    await fastify.ready(`http://127.0.0.1:${fport}/healthz`);
    for (const page of served)
      results[page.key]!.fastify = await measure(fastify, `http://127.0.0.1:${fport}${page.url}`, ACCEPT[page.key]!, page.bytes);
    await fastify.stop();

    const k = (n: number) => `${(n / 1000).toFixed(1)}k`.padStart(7);
    process.stdout.write(
      `\ninstructions per request (callgrind, ${WARMUP} warm-up + ${REQUESTS} sequential keep-alive requests, idle subtracted); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`,
    );
    process.stdout.write(
      `${'page'.padEnd(12)} ${'safelist main'.padStart(14)} ${'helpers'.padStart(8)} ${'fastify main'.padStart(13)} ${'helpers'.padStart(8)}  fastify/safelist (main thread)\n`,
    );
    for (const [key, r] of Object.entries(results)) {
      process.stdout.write(
        `${key.padEnd(12)} ${k(r.safelist.main).padStart(14)} ${k(r.safelist.helpers).padStart(8)} ${k(r.fastify.main).padStart(13)} ${k(r.fastify.helpers).padStart(8)}  ${(r.fastify.main / r.safelist.main).toFixed(2)}x\n`,
      );
      if (args.attribute && r.safelist.byFunction && r.fastify.byFunction) {
        const s = r.safelist.byFunction;
        const f = r.fastify.byFunction;
        const diff = [...new Set([...s.keys(), ...f.keys()])].map((name) => ({ name, s: s.get(name) ?? 0, f: f.get(name) ?? 0 }));
        diff.sort((a, b) => b.s - b.f - (a.s - a.f));
        process.stdout.write(`  self instructions per request, every thread, idle included: safelist, fastify, difference, function\n`);
        for (const d of [...diff.slice(0, 20), ...diff.slice(-8)])
          process.stdout.write(
            `  ${d.s.toFixed(0).padStart(7)} ${d.f.toFixed(0).padStart(7)} ${(d.s - d.f).toFixed(0).padStart(7)}  ${d.name.slice(0, 110)}\n`,
          );
      }
    }
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined); // already stopped, or never started
    for (const s of servers) await rm(`/tmp/perf-${s.pid}.map`, { force: true });
    if (!args.keep) await rm(work, { recursive: true, force: true });
    else process.stdout.write(`kept ${work}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
