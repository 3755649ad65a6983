// Benchmark of the conda first sync at an organisation's size: a 600,000-record linux-64 channel
// (bench/gen-repodata.ts, conda-forge-shaped) served by nginx, an allowlist of 5,000 of its names,
// and `safelist sync --ecosystem conda` (the built CLI, as a child process) into an empty
// catalog. Prints the sync's wall time against the target (<= 60 s), its peak RSS (GNU time),
// and as the reference in the same run, curl fetching the same repodata.json from the same nginx.
//
//   npm run build && npx tsx bench/conda-sync.ts                     # 600k records, 5,000 names, PGlite
//   npx tsx bench/conda-sync.ts --db pg                              # a throw-away database on 127.0.0.1:5432
//   npx tsx bench/conda-sync.ts --names 6000 --allow 1000            # quick look (120k records)
//   npx tsx bench/conda-sync.ts --cpu-prof .tmp/prof                 # and a CPU profile of the sync
//   npx tsx bench/conda-sync.ts --cli OTHER/dist/cli/main.js         # another build (e.g. before a change)
//
// The allowlist entries are `NAME >=5.<want-minor>`: every record of the 5,000 names is recorded
// (so refusals can be explained); the ~1.6% of versions they allow are downloaded (small files).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { createPgDatabase } from '../test/support/databases.js';
import { startNginx } from '../test/support/nginx-upstream.js';
import { fileBytes, packageNames, writeRepodata } from './gen-repodata.js';
import { cliNodeFlags } from './node-flags.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

const { values: args } = parseArgs({
  options: {
    names: { type: 'string', default: '30000' },
    'per-name': { type: 'string', default: '20' },
    allow: { type: 'string', default: '5000' },
    'want-minor': { type: 'string', default: '28' },
    db: { type: 'string', default: 'pglite' },
    keep: { type: 'boolean', default: false },
    /** The built CLI to measure (default: this checkout's dist/cli/main.js), e.g. an older build to compare. */
    cli: { type: 'string' },
    /** Write a V8 CPU profile of the sync (node --cpu-prof) into this folder. */
    'cpu-prof': { type: 'string' },
  },
});
const CLI = resolve(args.cli ?? join(ROOT, 'dist', 'cli', 'main.js'));
const NAMES = Number(args.names);
const PER_NAME = Number(args['per-name']);
const ALLOW = Number(args.allow);
const WANT_MINOR = Number(args['want-minor']);

/** What `NAME >=5.<WANT_MINOR>` allows among generated versions (majors go up to 5). */
const wanted = (version: string) => {
  const [major, minor] = version.split('.').map(Number);
  return major === 5 && minor! >= WANT_MINOR;
};

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  if (args.db !== 'pglite' && args.db !== 'pg') throw new Error('--db is pglite or pg');
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-conda-'));
  const stoppers: Array<() => Promise<void>> = [];
  try {
    await chmod(work, 0o755); // nginx's worker runs as an unprivileged user
    const channel = join(work, 'www', 'bench');
    await mkdir(join(channel, 'linux-64'), { recursive: true });
    await mkdir(join(channel, 'noarch'), { recursive: true });
    const names = packageNames({ names: NAMES, perName: PER_NAME });
    const step = Math.max(1, Math.floor(NAMES / ALLOW));
    const allowed = new Set(names.filter((_, i) => i % step === 0).slice(0, ALLOW));
    const files: string[] = [];
    let kept = 0;
    const t0 = performance.now();
    const gen = await writeRepodata(join(channel, 'linux-64', 'repodata.json'), { names: NAMES, perName: PER_NAME }, (r) => {
      if (!allowed.has(r.name)) return;
      kept++;
      if (wanted(r.version)) files.push(r.filename);
    });
    for (const f of files) await writeFile(join(channel, 'linux-64', f), fileBytes(f));
    await writeFile(
      join(channel, 'noarch', 'repodata.json'),
      JSON.stringify({ info: { subdir: 'noarch' }, packages: {}, 'packages.conda': {}, removed: [], repodata_version: 1 }),
    );
    process.stdout.write(
      `generated ${gen.records} records (${(gen.bytes / 2 ** 20).toFixed(0)} MiB), ${allowed.size} names allowed: ${kept} records to record, ${files.length} files to fetch (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
    );

    const nginx = await startNginx({ root: join(work, 'www'), types: { json: 'application/json' } });
    stoppers.push(nginx.stop);
    const repodataUrl = `${nginx.url}bench/linux-64/repodata.json`;
    const curl = await run('curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total}', repodataUrl]);
    const curlS = Number(curl.stdout);

    await mkdir(join(work, 'allowlists'));
    await mkdir(join(work, 'exceptions'));
    await writeFile(
      join(work, 'allowlists', 'conda.yaml'),
      `channels:\n  bench:\n${[...allowed].map((n) => `    - ${n} >=5.${WANT_MINOR}`).join('\n')}\n`,
    );
    let database = `database: { pglitePath: ${join(work, 'pglite')} }`;
    if (args.db === 'pg') {
      const pgdb = await createPgDatabase();
      stoppers.push(pgdb.drop);
      database = `database: { url: "${pgdb.url}" }`;
    }
    const configFile = join(work, 'safelist.yaml');
    await writeFile(
      configFile,
      [
        'server: { host: 127.0.0.1, port: 0, logLevel: warn }',
        `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
        database,
        `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
        "sync: { schedule: '' }",
        `conda: { channels: [{ name: bench, url: "${nginx.url}bench", subdirs: [linux-64] }] }`,
        '',
      ].join('\n'),
    );

    const load = loadavg();
    const s0 = performance.now();
    const out = await run(
      '/usr/bin/time',
      [
        '-f',
        '%M',
        process.execPath,
        ...cliNodeFlags(CLI),
        ...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(args['cpu-prof'])] : []),
        CLI,
        '--config',
        configFile,
        'sync',
        '--ecosystem',
        'conda',
      ],
      {
        maxBuffer: 1 << 28,
      },
    ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`safelist sync failed: ${err.message}\n${err.stdout?.slice(-2000) ?? ''}\n${err.stderr?.slice(-4000) ?? ''}`);
    });
    const syncS = (performance.now() - s0) / 1000;
    const peakMiB = Number(out.stderr.trim().split('\n').pop()) / 1024;
    const summary = out.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"conda"'))
      .pop();
    if (!summary) throw new Error(`no summary from safelist sync:\n${out.stdout.slice(-2000)}`);
    const c = (
      JSON.parse(summary) as {
        conda: { downloaded: number; failed: number; subdirs: Array<{ subdir: string; seen: number; kept: number; toFetch: number }> };
      }
    ).conda;
    const linux = c.subdirs.find((s) => s.subdir === 'linux-64');
    if (c.failed || linux?.seen !== gen.records || linux.kept !== kept || c.downloaded !== files.length) {
      throw new Error(
        `the sync did not do the whole job: ${summary} (expected seen ${gen.records}, kept ${kept}, downloaded ${files.length})`,
      );
    }
    process.stdout.write(
      `\nconda first sync, ${gen.records} records / ${allowed.size} names, ${args.db === 'pg' ? 'PostgreSQL server' : 'embedded PGlite'}, load average before ${load.map((l) => l.toFixed(1)).join(' ')}:\n` +
        `  safelist sync          ${syncS.toFixed(1)} s (target <= 60 s), peak RSS ${peakMiB.toFixed(0)} MiB; recorded ${linux.kept}, downloaded ${c.downloaded}\n` +
        `  curl of repodata.json  ${curlS.toFixed(2)} s (reference: the upstream's own transfer)\n`,
    );
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`));
    if (!args.keep) await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
