// Benchmark of the OCI blob path: the same 200 MB layer downloaded from Safelist and from the
// upstream docker-registry (CNCF distribution 2.8, Debian) in one run, with the same client
// (curl, a separate process writing to /dev/null). Prints MB/s per round, the medians and the
// Safelist/registry throughput ratio, for one download at a time and for parallel downloads.
//
//   scripts/test-deps && npm run build && npx tsx bench/oci-blob.ts [--size-mb 200] [--rounds 5] [--parallel 4]
//
// The layer is random bytes (incompressible) inserted with umoci and pushed with skopeo; Safelist
// syncs it from the registry (verifying its digest) into its fs store, then both serve it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLayout } from '../test/support/images.js';
import { freePort, waitForHttp } from '../test/support/ports.js';
import { startRegistry } from '../test/support/registry.js';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
    parallel: { type: 'string', default: '4' },
  },
});
const SIZE = Number(args['size-mb']) * 1024 * 1024;
const ROUNDS = Number(args.rounds);
const PARALLEL = Number(args.parallel);
const ROOT = resolve(import.meta.dirname, '..');

/** Downloads url with curl n times in parallel; resolves with the aggregate MB/s. */
function download(url: string, n: number, expected: number): Promise<number> {
  const started = process.hrtime.bigint();
  const runs = Array.from(
    { length: n },
    () =>
      new Promise<void>((ok, fail) => {
        const c = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.once('close', () => {
          const [status, size] = out.trim().split(' ');
          if (status !== '200' || Number(size) !== expected)
            fail(new Error(`${url}: HTTP ${status}, ${size} bytes (expected ${expected})`));
          else ok();
        });
      }),
  );
  return Promise.all(runs).then(() => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return (n * expected) / 1024 / 1024 / seconds;
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  for (const [cmd, pkg] of [
    ['docker-registry', 'docker-registry'],
    ['umoci', 'umoci'],
    ['skopeo', 'skopeo'],
    ['curl', 'curl'],
  ]) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
      throw new Error(`${cmd} not found: run scripts/test-deps (Debian package ${pkg})`);
  }
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-oci-'));
  const registry = await startRegistry();
  const layout = await createLayout();
  let safelist: ReturnType<typeof spawn> | undefined;
  try {
    process.stderr.write(`building a ${SIZE / 1024 / 1024} MB layer with umoci and pushing it with skopeo...\n`);
    await layout.image('big', { 'data/blob.bin': randomBytes(SIZE) });
    const digest = await layout.push('big', registry.host, 'bench/big:1');
    const manifest = (await (
      await fetch(`${registry.url}/v2/bench/big/manifests/${digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    ).json()) as { layers: Array<{ digest: string; size: number }> };
    const layer = manifest.layers.reduce((a, b) => (a.size >= b.size ? a : b));

    const port = await freePort();
    const configFile = join(work, 'safelist.yaml');
    await writeFile(
      configFile,
      [
        `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
        `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
        `database: { pglitePath: ${join(work, 'state')} }`,
        `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
        `oci: { upstreams: [ { name: mcr, url: "${registry.url}" } ] }`,
        'sync: { schedule: "" }',
        '',
      ].join('\n'),
    );
    await spawnSync('mkdir', ['-p', join(work, 'allowlists'), join(work, 'exceptions')]);
    await writeFile(join(work, 'allowlists', 'oci.yaml'), 'packages:\n  - mcr/bench/big:1\n');
    const sync = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), '--config', configFile, 'sync', '--ecosystem', 'oci'], {
      encoding: 'utf8',
    });
    if (sync.status !== 0) throw new Error(`safelist sync failed: ${sync.stderr}`);
    safelist = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), '--config', configFile, 'serve'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);

    const urls = {
      safelist: `http://127.0.0.1:${port}/v2/mcr/bench/big/blobs/${layer.digest}`,
      registry: `${registry.url}/v2/bench/big/blobs/${layer.digest}`,
    };
    const mb = (layer.size / 1024 / 1024).toFixed(1);
    console.log(`layer ${layer.digest} (${mb} MB), ${ROUNDS} rounds, servers alternate within each round`);
    for (const n of [1, PARALLEL]) {
      // Warm-up: page cache and connection set-up for both.
      await download(urls.safelist, 1, layer.size);
      await download(urls.registry, 1, layer.size);
      const results: Record<'safelist' | 'registry', number[]> = { safelist: [], registry: [] };
      const cpu: Record<'safelist' | 'registry', number> = { safelist: 0, registry: 0 };
      const pids = { safelist: safelist.pid!, registry: registry.pid };
      for (let r = 0; r < ROUNDS; r++) {
        const order: Array<'safelist' | 'registry'> = r % 2 === 0 ? ['safelist', 'registry'] : ['registry', 'safelist'];
        for (const who of order) {
          const before = cpuSeconds(pids[who]);
          results[who].push(await download(urls[who], n, layer.size));
          cpu[who] += cpuSeconds(pids[who]) - before;
        }
      }
      // Server CPU per GiB served: less sensitive than throughput to other load on the machine.
      const gib = (ROUNDS * n * layer.size) / 1024 ** 3;
      const perGib = { safelist: cpu.safelist / gib, registry: cpu.registry / gib };
      const s = median(results.safelist);
      const g = median(results.registry);
      console.log(`${n} download(s) at a time:`);
      console.log(
        `  safelist        ${results.safelist.map((x) => x.toFixed(0)).join(' / ')} MB/s  median ${s.toFixed(0)} MB/s  server CPU ${perGib.safelist.toFixed(3)} s/GiB`,
      );
      console.log(
        `  docker-registry ${results.registry.map((x) => x.toFixed(0)).join(' / ')} MB/s  median ${g.toFixed(0)} MB/s  server CPU ${perGib.registry.toFixed(3)} s/GiB`,
      );
      console.log(`  ratio safelist/docker-registry: ${(s / g).toFixed(2)}x (target >= 1.0x)`);
    }
  } finally {
    if (safelist && safelist.exitCode === null) {
      const gone = new Promise((r) => safelist!.once('exit', r));
      safelist.kill('SIGTERM');
      await gone;
    }
    await registry.stop();
    await layout.remove();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
