// Benchmark: Safelist's streaming repodata filter against the json-module baseline
// (../shared/tools/filter-baseline.py) on a conda-forge-sized repodata.json, in one run, and
// serving the filtered repodata from Safelist against nginx serving the same bytes (wrk).
// Prints ratios against the targets: >= 8x faster than the baseline, peak RSS <= 300 MB,
// >= 0.5x nginx's requests/s.
//
// usage: npx tsx bench/conda-filter.ts [--input FILE] [--names N] [--duration 10] [--connections 32]
// The input is generated with `python3 ../shared/tools/gen-repodata.py FILE 30000 20` when absent.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { packageFromRecord } from '../src/ecosystems/conda/catalog.js';
import { openedConda } from '../src/ecosystems/conda/module.js';
import type { CondaRecordFields } from '../src/ecosystems/conda/repodata-filter.js';
import { startServer } from '../src/server.js';
import { startNginx } from '../test/support/nginx-upstream.js';
import { configSchema } from '../src/ecosystems/index.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const TOOLS = resolve(ROOT, '..', 'shared', 'tools');

const { values } = parseArgs({
  options: {
    input: { type: 'string', default: join(tmpdir(), 'safelist-bench', 'repodata-30000x20.json') },
    names: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
  },
});

type Filtered = { packages: Record<string, CondaRecordFields>; 'packages.conda': Record<string, CondaRecordFields> };

/**
 * The measured part, run as compiled JavaScript (dist/, what production runs) in a child
 * process, so that its time includes process start like the baseline's and its peak RSS is
 * its own.
 */
const CHILD = `
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { filterRepodata } from ${JSON.stringify(join(ROOT, 'dist', 'ecosystems', 'conda', 'repodata-filter.js'))};
const [input, namesFile, out] = process.argv.slice(1);
const names = new Set((await readFile(namesFile, 'utf8')).split('\\n').filter(Boolean));
const t0 = performance.now();
const r = await filterRepodata(createReadStream(input, { highWaterMark: 1 << 20 }), { wantName: (n) => names.has(n), subdir: 'linux-64' });
const doc = { info: r.info, packages: {}, 'packages.conda': {}, removed: [], repodata_version: r.repodataVersion ?? 1 };
for (const k of r.records) doc[k.kind][k.filename] = k.record;
await writeFile(out, JSON.stringify(doc));
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, seen: r.seen, kept: r.records.length }));
`;

/** Wall time (ms) and peak RSS (MB) of a command, from GNU time. */
async function timed(cmd: string, args: string[]): Promise<{ ms: number; rssMb: number; stdout: string }> {
  const t0 = performance.now();
  const r = await run('/usr/bin/time', ['-f', '%M', cmd, ...args], { maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { ms, rssMb: rssKb / 1024, stdout: r.stdout };
}

async function wrk(url: string, seconds: string, connections: string, bytes: number): Promise<number> {
  // Every response must be the whole document: a server answering errors fast would win.
  const check = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  const got = (await check.arrayBuffer()).byteLength;
  if (check.status !== 200 || got !== bytes)
    throw new Error(`${url} answered ${check.status} with ${got} bytes, expected 200 with ${bytes}`);
  const r = await run('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, url], { maxBuffer: 1 << 20 });
  if (/Non-2xx|Socket errors/.test(r.stdout)) throw new Error(`wrk saw errors:\n${r.stdout}`);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`cannot read wrk output:\n${r.stdout}`);
  return Number(m[1]);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function main(): Promise<void> {
  process.stderr.write('building dist/ (tsc)...\n');
  await run('npx', ['tsc', '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT });
  const input = values.input!;
  const n = Number(values.names);
  if (!existsSync(input)) {
    await mkdir(dirname(input), { recursive: true });
    process.stderr.write(`generating ${input} (30000 names x 20 records)...\n`);
    await run('python3', [join(TOOLS, 'gen-repodata.py'), input, '30000', '20']);
  }
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-'));
  // nginx's workers drop privileges (www-data when started as root): they must be able to read it.
  await chmod(work, 0o755);
  try {
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(input));
    process.stderr.write(`input: ${input} (${(size / 1e6).toFixed(0)} MB)\n`);

    // 1. Baseline: json.load + filter + json.dump.
    const baseOut = join(work, 'baseline.json');
    const base = await timed('python3', [join(TOOLS, 'filter-baseline.py'), input, baseOut, String(n)]);
    const baseline = JSON.parse(await readFile(baseOut, 'utf8')) as Filtered;
    const names = new Set([...Object.values(baseline.packages), ...Object.values(baseline['packages.conda'])].map((r) => r.name));
    await writeFile(join(work, 'names'), [...names].join('\n'));

    // 2. Safelist's filter on the same input and names, in its own process.
    const ourOut = join(work, 'safelist.json');
    const ours = await timed(process.execPath, ['--input-type=module', '-e', CHILD, input, join(work, 'names'), ourOut]);
    const inner = JSON.parse(ours.stdout) as { ms: number; seen: number; kept: number };
    const filtered = JSON.parse(await readFile(ourOut, 'utf8')) as Filtered;
    const keys = (d: Filtered) =>
      [...Object.keys(d.packages).map((k) => `p/${k}`), ...Object.keys(d['packages.conda']).map((k) => `c/${k}`)].sort().join('\n');
    if (keys(filtered) !== keys(baseline)) throw new Error('Safelist kept a different set of records than the baseline');
    for (const [fn, rec] of Object.entries(baseline.packages)) {
      if (JSON.stringify(filtered.packages[fn]) !== JSON.stringify(rec)) throw new Error(`record ${fn} differs from the baseline's`);
    }

    // 3. Serving: Safelist's rendered repodata.json against nginx serving the same bytes.
    const cfgDir = join(work, 'sl');
    await mkdir(join(cfgDir, 'allowlists'), { recursive: true });
    await mkdir(join(cfgDir, 'exceptions'), { recursive: true });
    await writeFile(
      join(cfgDir, 'allowlists', 'conda.yaml'),
      `channels:\n  conda-forge:\n${[...names].map((x) => `    - ${x}`).join('\n')}\n`,
    );
    const config = configSchema.parse({
      server: { host: '127.0.0.1', port: await freePort(), logLevel: 'silent' },
      storage: { kind: 'fs', path: join(cfgDir, 'blobs') },
      database: { pglitePath: 'memory://' },
      policy: { allowlistDir: join(cfgDir, 'allowlists'), exceptionsDir: join(cfgDir, 'exceptions') },
      sync: { schedule: '' },
    });
    const server = await startServer(config);
    let safelistRps = 0;
    let nginxRps = 0;
    let bodyBytes = 0;
    try {
      const pkgs = [...Object.entries(filtered.packages), ...Object.entries(filtered['packages.conda'])].map(([fn, rec]) =>
        packageFromRecord('conda-forge', 'linux-64', fn, rec, { stored: true, source: 'bench', sourceUrl: null }),
      );
      await openedConda(server.runtime).catalog.upsert(pkgs);
      const url = `${server.url}/conda/default/conda-forge/linux-64/repodata.json`;
      const body = Buffer.from(await (await fetch(url, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
      bodyBytes = body.length;
      const root = join(work, 'www', 'conda', 'default', 'conda-forge', 'linux-64');
      await mkdir(root, { recursive: true });
      await writeFile(join(root, 'repodata.json'), body);
      const nginx = await startNginx({ root: join(work, 'www'), types: { json: 'application/json' } });
      try {
        // Warm both, then measure one after the other (2 cores: wrk and the server share them).
        await wrk(url, '2', values.connections!, bodyBytes);
        safelistRps = await wrk(url, values.duration!, values.connections!, bodyBytes);
        const nurl = `${nginx.url}conda/default/conda-forge/linux-64/repodata.json`;
        await wrk(nurl, '2', values.connections!, bodyBytes);
        nginxRps = await wrk(nurl, values.duration!, values.connections!, bodyBytes);
      } finally {
        await nginx.stop();
      }
    } finally {
      await server.close();
    }

    const speedup = base.ms / ours.ms;
    const lines = [
      `input                ${(size / 1e6).toFixed(0)} MB, ${inner.seen} records; kept ${inner.kept} records of ${names.size} names`,
      `baseline (python)    ${(base.ms / 1000).toFixed(2)} s, peak RSS ${base.rssMb.toFixed(0)} MB`,
      `safelist filter      ${(ours.ms / 1000).toFixed(2)} s (filter ${(inner.ms / 1000).toFixed(2)} s inside), peak RSS ${ours.rssMb.toFixed(0)} MB`,
      `speed-up             ${speedup.toFixed(1)}x (target >= 8x) ${speedup >= 8 ? 'OK' : 'MISSED'}`,
      `peak RSS             ${ours.rssMb.toFixed(0)} MB (target <= 300 MB) ${ours.rssMb <= 300 ? 'OK' : 'MISSED'}`,
      `serving ${(bodyBytes / 1e6).toFixed(2)} MB repodata: safelist ${safelistRps.toFixed(0)} req/s, nginx ${nginxRps.toFixed(0)} req/s, ratio ${(safelistRps / nginxRps).toFixed(2)} (target >= 0.5) ${safelistRps / nginxRps >= 0.5 ? 'OK' : 'MISSED'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
