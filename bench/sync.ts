// Benchmark of the PyPI sync of large wheels: `safelist sync` (the built CLI, its own process)
// against N parallel `curl | sha256sum` of the same files from the same nginx, in one run.
// Prints both throughputs, the ratio, and Safelist's peak resident memory (VmHWM from /proc)
// next to the peak of a no-op sync (same process, nothing to fetch), so the growth caused by
// the files shows apart from the runtime's own footprint, and the CPU seconds of each kind of
// thread (the main thread's share of the wall time says whether it is the bottleneck).
//
//   npm run build && npx tsx bench/sync.ts                       # small: 6 wheels, 16-40 MB
//   npx tsx bench/sync.ts --real                                 # issue 13: 9 wheels, 140-270 MB
//   npx tsx bench/sync.ts --sizes-mb 140,270 --storage azure     # Azure Blob on Azurite
//   npx tsx bench/sync.ts --postgres                             # PostgreSQL server instead of PGlite
//   npx tsx bench/sync.ts --cli /path/to/other/dist/cli/main.js  # another build, for before/after
//   npx tsx bench/sync.ts --cpu-prof .tmp/prof                   # and V8 CPU profiles of the measured syncs
//
// Two upstreams over the same files: PEP 503 HTML announcing PEP 658 `.metadata` files
// (data-core-metadata) and one that does not (Safelist then reads METADATA out of the stored
// wheel). Wheels are real zips: random payload (stored, not compressed), real METADATA.
// Never touches anything outside its temp folder (and Azurite's, with --storage azure).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import yazl from 'yazl';
import { startNginx } from '../test/support/nginx-upstream.js';
import { cliNodeFlags } from './node-flags.js';

const { values: args } = parseArgs({
  options: {
    'sizes-mb': { type: 'string' },
    real: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '8' },
    storage: { type: 'string', default: 'fs' },
    /** A PostgreSQL server (test/support/databases.ts: 127.0.0.1:5432 or TEST_PG_URL) instead of PGlite. */
    postgres: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    /** Another build of the CLI (e.g. an older commit's dist/cli/main.js) for before/after figures. */
    cli: { type: 'string' },
    /** Write a V8 CPU profile of each measured sync (node --cpu-prof) into this folder. */
    'cpu-prof': { type: 'string' },
  },
});
const REAL_SIZES = [140, 140, 140, 140, 140, 140, 140, 140, 270]; // 1.39 GB: issue 13 synced 9 wheels, 140–270 MB, 1.37 GB
const SMALL_SIZES = [16, 20, 24, 28, 32, 40];
const SIZES = args['sizes-mb'] ? args['sizes-mb'].split(',').map(Number) : args.real ? REAL_SIZES : SMALL_SIZES;
const CONCURRENCY = Number(args.concurrency);
const ROOT = resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;
const CLI = args.cli ? resolve(args.cli) : join(ROOT, 'dist', 'cli', 'main.js');
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

interface Wheel {
  project: string;
  filename: string;
  sha256: string;
  size: number;
  metadata: Buffer;
}

/** A wheel of about sizeMb MB: one stored entry of random bytes, METADATA, WHEEL, RECORD. */
async function buildWheel(dir: string, index: number, sizeMb: number): Promise<Wheel> {
  const project = `bench-wheel-${index}`;
  const base = `bench_wheel_${index}-1.0`;
  const filename = `${base}-py3-none-any.whl`;
  const metadata = Buffer.from(
    `Metadata-Version: 2.1\nName: ${project}\nVersion: 1.0\nRequires-Python: >=3.9\nSummary: bench payload of ${sizeMb} MB\n\n`,
  );
  const payloadHash = createHash('sha256');
  let left = sizeMb * 1_000_000;
  const payload = Readable.from(
    (function* () {
      while (left > 0) {
        const chunk = randomBytes(Math.min(left, MiB));
        left -= chunk.length;
        payloadHash.update(chunk);
        yield chunk;
      }
    })(),
  );
  const zip = new yazl.ZipFile();
  const mtime = new Date('2020-02-02T00:00:00Z');
  zip.addReadStream(payload, `bench_wheel_${index}/payload.bin`, { compress: false, mtime });
  zip.addBuffer(metadata, `${base}.dist-info/METADATA`, { mtime });
  zip.addBuffer(
    Buffer.from('Wheel-Version: 1.0\nGenerator: safelist-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n'),
    `${base}.dist-info/WHEEL`,
    { mtime },
  );
  // RECORD names the payload's hash, known only once yazl has read the stream through.
  payload.once('end', () => {
    const record = `bench_wheel_${index}/payload.bin,sha256=${payloadHash.digest('base64url')},${sizeMb * 1_000_000}\n${base}.dist-info/RECORD,,\n`;
    zip.addBuffer(Buffer.from(record), `${base}.dist-info/RECORD`, { mtime });
    zip.end();
  });
  const path = join(dir, filename);
  const fileHash = createHash('sha256');
  zip.outputStream.on('data', (c: Buffer) => fileHash.update(c));
  await pipeline(zip.outputStream, createWriteStream(path));
  return { project, filename, sha256: fileHash.digest('hex'), size: (await stat(path)).size, metadata };
}

/** Two PEP 503 trees over one files/ folder: with and without PEP 658 data-core-metadata. */
async function writeUpstreams(www: string, wheels: Wheel[]): Promise<void> {
  for (const w of wheels) {
    await writeFile(join(www, 'files', `${w.filename}.metadata`), w.metadata);
    const metaSha = createHash('sha256').update(w.metadata).digest('hex');
    for (const [tree, attr] of [
      ['simple-658', ` data-core-metadata="sha256=${metaSha}"`],
      ['simple-503', ''],
    ] as const) {
      await mkdir(join(www, tree, w.project), { recursive: true });
      const html = `<!DOCTYPE html><html><body><a href="../../files/${w.filename}#sha256=${w.sha256}" data-requires-python="&gt;=3.9"${attr}>${w.filename}</a></body></html>\n`;
      await writeFile(join(www, tree, w.project, 'index.html'), html);
    }
  }
}

interface Run {
  wallS: number;
  /** user + system CPU seconds of the process (from /proc/<pid>/stat). */
  cpuS: number;
  /** CPU seconds per thread kind (the thread's name: MainThread, libuv-worker, V8Worker, ...). */
  threads: Map<string, number>;
  peakMiB: number;
  code: number | null;
  stderr: string;
}

/** utime + stime in clock ticks from a /proc stat line (fields 14 and 15, counted after the ')' that ends the name). */
function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The CPU ticks of each live thread of pid, by thread id, with its name. */
function threadTicks(pid: number, into: Map<number, { name: string; ticks: number }>): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      into.set(Number(tid), { name: Number(tid) === pid ? 'MainThread' : name, ticks: statTicks(stat) });
    } catch {
      // The thread ended between the listing and the read; its last sample stands.
    }
  }
}

/** Runs the CLI, sampling VmHWM from /proc every 20 ms (the last sample before exit is the peak). */
async function runCli(argv: string[], profile = false): Promise<Run> {
  const started = process.hrtime.bigint();
  const prof = profile && args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(args['cpu-prof'])] : [];
  const child = spawn(process.execPath, [...cliNodeFlags(CLI), ...prof, CLI, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let peakKiB = 0;
  let ticks = 0;
  const perThread = new Map<number, { name: string; ticks: number }>();
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakKiB = Math.max(peakKiB, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      ticks = statTicks(readFileSync(`/proc/${child.pid}/stat`, 'utf8'));
      threadTicks(child.pid!, perThread);
    } catch {
      // The process has exited between two samples; the last one stands.
    }
  };
  const timer = setInterval(sample, 20);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearInterval(timer);
  const threads = new Map<string, number>();
  for (const t of perThread.values()) threads.set(t.name, (threads.get(t.name) ?? 0) + t.ticks / CLOCK_TICKS);
  return {
    wallS: Number(process.hrtime.bigint() - started) / 1e9,
    cpuS: ticks / CLOCK_TICKS,
    threads,
    peakMiB: peakKiB / 1024,
    code,
    stderr,
  };
}

/** "MainThread 4.10 s (0.92 of the wall time), libuv-worker 1.20 s, ...": the threads that used 0.05 s or more. */
function describeThreads(run: Run): string {
  return [...run.threads]
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s.toFixed(2)} s${name === 'MainThread' ? ` (${(s / run.wallS).toFixed(2)} of the wall time)` : ''}`)
    .join(', ');
}

/**
 * N parallel `curl -s URL | sha256sum` (xargs -P), checked against the announced digests; bash's
 * `times` gives the CPU seconds of all of them (user + system).
 */
function curlSha(base: string, wheels: Wheel[]): { wallS: number; cpuS: number } {
  const urls = wheels.map((w) => `${base}/files/${w.filename}`).join('\n');
  const script = `printf '%s\\n' "$URLS" | xargs -P ${CONCURRENCY} -I{} sh -c 'curl -sf "{}" | sha256sum'; times`;
  const started = process.hrtime.bigint();
  const out = spawnSync('bash', ['-c', script], { env: { ...process.env, URLS: urls }, encoding: 'utf8' });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  if (out.status !== 0) throw new Error(`curl | sha256sum failed: ${out.stderr}`);
  for (const w of wheels) if (!out.stdout.includes(w.sha256)) throw new Error(`curl | sha256sum did not see ${w.filename} whole`);
  // `times` prints the shell's own times, then its children's: "0m1.234s 0m0.567s".
  const children =
    out.stdout
      .trim()
      .split('\n')
      .at(-1)!
      .match(/(\d+)m([\d.]+)s/g) ?? [];
  const cpuS = children.reduce((n, t) => {
    const [, m, s] = /(\d+)m([\d.]+)s/.exec(t)!;
    return n + Number(m) * 60 + Number(s);
  }, 0);
  return { wallS, cpuS };
}

async function writeConfig(
  work: string,
  mode: string,
  upstream: string,
  storage: string,
  databaseUrl: string | undefined,
): Promise<string> {
  const dir = join(work, mode);
  await mkdir(join(dir, 'allowlists'), { recursive: true });
  await mkdir(join(dir, 'exceptions'), { recursive: true });
  await writeFile(join(dir, 'allowlists', 'pypi.yaml'), `packages:\n${SIZES.map((_, i) => `  - bench-wheel-${i}`).join('\n')}\n`);
  const file = join(dir, 'safelist.yaml');
  await writeFile(
    file,
    [
      'server: { logLevel: warn }',
      storage,
      databaseUrl ? `database: { url: "${databaseUrl}" }` : `database: { pglitePath: ${join(dir, 'pglite')} }`,
      `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
      `pypi: { upstreams: [{ name: bench, url: "${upstream}" }] }`,
      `sync: { schedule: '', concurrency: ${CONCURRENCY} }`,
      '',
    ].join('\n'),
  );
  return file;
}

async function main(): Promise<void> {
  for (const cmd of ['nginx', 'curl', 'sha256sum']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} not found: run scripts/test-deps`);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-sync-'));
  const azurite = args.storage === 'azure' ? await (await import('../test/support/azurite.js')).startAzurite() : undefined;
  const drops: Array<() => Promise<void>> = [];
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  try {
    const www = join(work, 'www');
    await mkdir(join(www, 'files'), { recursive: true });
    process.stdout.write(`generating ${SIZES.length} wheels (${SIZES.join(', ')} MB) ... `);
    const wheels: Wheel[] = [];
    for (const [i, mb] of SIZES.entries()) wheels.push(await buildWheel(join(www, 'files'), i, mb));
    const bytes = wheels.reduce((n, w) => n + w.size, 0);
    process.stdout.write(`${(bytes / 1e6).toFixed(0)} MB\n`);
    await writeUpstreams(www, wheels);
    const nginx = await startNginx({ root: www, types: { html: 'text/html' } });
    try {
      const lines: string[] = [];
      // Warm the page cache the same way for both sides: the reference reads first.
      const curl = curlSha(nginx.url, wheels);
      const curlS = curl.wallS;
      const gb = bytes / 1e9;
      lines.push(
        `curl | sha256sum x${CONCURRENCY}: ${curlS.toFixed(2)} s, ${(bytes / 1e6 / curlS).toFixed(0)} MB/s, CPU ${(curl.cpuS / gb).toFixed(2)} s/GB`,
      );
      for (const mode of ['simple-658', 'simple-503']) {
        const storage = azurite
          ? `storage: { kind: azure, azure: { connectionString: "${azurite.connectionString}", container: bench-${mode} } }`
          : `storage: { kind: fs, path: ${join(work, mode, 'blobs')} }`;
        const pg = args.postgres ? await (await import('../test/support/databases.js')).createPgDatabase() : undefined;
        if (pg) drops.push(pg.drop);
        const config = await writeConfig(work, mode, `${nginx.url}${mode}/`, storage, pg?.url);
        // A dry run creates the database first (PGlite's initdb, in a child process since
        // 2026-12-01, and the migrations), so the measured sync shows what the files cost.
        const init = await runCli(['--config', config, 'sync', '--ecosystem', 'pypi', '--dry-run']);
        if (init.code !== 0) throw new Error(`safelist sync --dry-run (${mode}) exited ${init.code}:\n${init.stderr}`);
        const sync = await runCli(['--config', config, 'sync', '--ecosystem', 'pypi'], true);
        if (sync.code !== 0) throw new Error(`safelist sync (${mode}) exited ${sync.code}:\n${sync.stderr}`);
        const noop = await runCli(['--config', config, 'sync', '--ecosystem', 'pypi']);
        if (noop.code !== 0) throw new Error(`no-op safelist sync (${mode}) exited ${noop.code}:\n${noop.stderr}`);
        const ratio = curlS / sync.wallS;
        // Net of start-up: the no-op run's wall time is the runtime opening and reading the index.
        const net = sync.wallS - noop.wallS;
        const netRatio = net > 0.2 ? `${(curlS / net).toFixed(2)}x` : 'n/a: start-up dominates, use larger --sizes-mb';
        // CPU per GB is steadier than wall time on a shared machine: net of the no-op run's CPU.
        const cpuPerGb = (sync.cpuS - noop.cpuS) / gb;
        lines.push(
          `safelist sync, ${mode === 'simple-658' ? 'PEP 658 metadata upstream' : 'no metadata upstream  '}: ${sync.wallS.toFixed(2)} s (no-op ${noop.wallS.toFixed(2)} s), ` +
            `ratio ${ratio.toFixed(2)}x (net of start-up ${netRatio}; target >= 0.8), CPU ${cpuPerGb.toFixed(2)} s/GB (${(curl.cpuS / gb / cpuPerGb).toFixed(2)}x curl's), ` +
            `peak RSS ${sync.peakMiB.toFixed(0)} MiB (no-op ${noop.peakMiB.toFixed(0)} MiB, growth ${(sync.peakMiB - noop.peakMiB).toFixed(0)} MiB; targets <= 256, < 64; ` +
            `first run on a fresh database ${init.peakMiB.toFixed(0)} MiB)`,
          `  CPU by thread: ${describeThreads(sync)}; no-op run: ${describeThreads(noop)}`,
        );
      }
      process.stdout.write(
        `\n${wheels.length} wheels, ${(bytes / 1e6).toFixed(0)} MB, largest ${(Math.max(...wheels.map((w) => w.size)) / 1e6).toFixed(0)} MB; ` +
          `storage ${args.storage}, database ${args.postgres ? 'PostgreSQL' : 'PGlite'}; ${spawnSync('nproc').stdout.toString().trim()} cores, load average ${load()}\n`,
      );
      process.stdout.write(lines.join('\n') + '\n');
    } finally {
      await nginx.stop();
    }
  } finally {
    for (const drop of drops) await drop();
    await azurite?.stop();
    if (!args.keep) await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
