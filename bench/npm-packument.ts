// Benchmark of the npm read path: one packument with N versions (default 1,000) served by
// Safelist, by verdaccio (the common npm registry, holding the same package in its storage,
// which Safelist syncs from it) and by nginx (the identical bytes Safelist produced, as a static file: the
// physical limit of serving that document over HTTP here), in one run under the same wrk load.
// Prints requests/s, latency percentiles and the ratios. It never asserts anything and is not
// part of the test suite.
//
//   npm run build && npx tsx bench/npm-packument.ts [--duration 10] [--versions 1000] [--connections 32]
//
// Scenarios: the abbreviated packument (what `npm install` asks for) and the full one.
// Safelist (`safelist serve` from dist/) and verdaccio run as their own processes; nginx with one
// worker process; wrk as an asynchronous child.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import * as tar from 'tar';
import { startNginx, type NginxServer } from '../test/support/nginx-upstream.js';
import { freePort, waitForHttp } from '../test/support/ports.js';
import { startVerdaccio, type Verdaccio } from '../test/support/verdaccio.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    versions: { type: 'string', default: '1000' },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const VERSIONS = Number(args.versions);
const NAME = 'bench-pkg';
const ROOT = resolve(import.meta.dirname, '..');
const ADMIN = 'bench-admin-token-0123456789';
const SCENARIOS = [
  { key: 'abbreviated', accept: 'application/vnd.npm.install-v1+json', ext: 'abbrev' },
  { key: 'full', accept: 'application/json', ext: 'json' },
] as const;

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  errors: number;
}

/** wrk as an asynchronous child: Safelist serves from this very process meanwhile. */
async function wrk(url: string, accept: string, seconds = DURATION): Promise<WrkResult> {
  const { stdout: text } = await promisify(execFile)(
    'wrk',
    ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `Accept: ${accept}`, url],
    {
      maxBuffer: 1024 * 1024,
    },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? '?';
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return { rps, p50, p99, errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) };
}

/** A real npm tarball (package/package.json, package/index.js), gzip-compressed. */
async function tarball(work: string, version: string): Promise<Buffer> {
  const dir = join(work, 'build', version);
  await mkdir(join(dir, 'package'), { recursive: true });
  await writeFile(join(dir, 'package', 'package.json'), JSON.stringify({ name: NAME, version, main: 'index.js', license: 'MIT' }));
  await writeFile(join(dir, 'package', 'index.js'), `module.exports = ${JSON.stringify(version)};\n`);
  const chunks: Buffer[] = [];
  for await (const c of tar.create({ gzip: true, cwd: dir, portable: true }, ['package']) as unknown as AsyncIterable<Buffer>)
    chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * verdaccio (test/support/verdaccio.ts) with the package already in its storage, written in
 * verdaccio's own storage layout (package.json + tarballs): publishing 1,000 versions one by one
 * rewrites the growing document each time and takes many minutes here.
 */
function startSeededVerdaccio(work: string): Promise<Verdaccio> {
  return startVerdaccio({ seed: (storage, url) => seedStorage(work, storage, url) });
}

async function seedStorage(work: string, storage: string, url: string): Promise<void> {
  const folder = join(storage, NAME);
  await mkdir(folder, { recursive: true });
  const doc = {
    _id: NAME,
    name: NAME,
    versions: {} as Record<string, unknown>,
    time: { created: new Date(Date.UTC(2024, 0, 1)).toISOString() } as Record<string, string>,
    users: {},
    'dist-tags': { latest: '' },
    _uplinks: {},
    _distfiles: {},
    _attachments: {} as Record<string, unknown>,
    _rev: `1-${randomBytes(8).toString('hex')}`,
    readme: '',
  };
  for (let i = 0; i < VERSIONS; i++) {
    const version = `${Math.floor(i / 100)}.${i % 100}.0`;
    const bytes = await tarball(work, version);
    const file = `${NAME}-${version}.tgz`;
    await writeFile(join(folder, file), bytes);
    const shasum = createHash('sha1').update(bytes).digest('hex');
    doc.versions[version] = {
      name: NAME,
      version,
      main: 'index.js',
      license: 'MIT',
      description: `version ${version} of a package with many versions`,
      _id: `${NAME}@${version}`,
      dist: { integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`, shasum, tarball: `${url}/${NAME}/-/${file}` },
    };
    doc.time[version] = new Date(Date.UTC(2024, 0, 1) + i * 3600_000).toISOString();
    doc._attachments[file] = { shasum, version };
    doc['dist-tags'].latest = version;
  }
  doc.time.modified = doc.time[doc['dist-tags'].latest]!;
  await writeFile(join(folder, 'package.json'), JSON.stringify(doc, null, 2));
  await writeFile(join(storage, '.verdaccio-db.json'), JSON.stringify({ list: [NAME], secret: randomBytes(16).toString('hex') }));
}

/** Safelist as its own process (`safelist serve` from dist/, as bench/pypi-index.ts runs it), PGlite, folder storage. */
async function startSafelist(work: string, upstream: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error('dist/ is missing: run `npm run build` first');
  const dir = join(work, 'safelist');
  await mkdir(join(dir, 'allowlists'), { recursive: true });
  await mkdir(join(dir, 'exceptions'));
  await writeFile(join(dir, 'allowlists', 'npm.yaml'), `packages:\n  - name: ${NAME}\n    versions: "*"\n`);
  const port = await freePort();
  const config = join(dir, 'safelist.yaml');
  await writeFile(
    config,
    [
      `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
      `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
      `database: { pglitePath: ${join(dir, 'pglite')} }`,
      `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
      "sync: { schedule: '' }",
      `npm: { upstreams: [{ name: verdaccio, url: "${upstream}/" }] }`,
      `auth: { tokens: [{ id: bench-admin, token: ${ADMIN}, roles: [admin] }] }`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [main, '--config', config, 'serve'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, 120_000, () => child.exitCode === null);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

async function syncSafelist(sl: { url: string }): Promise<void> {
  const res = await fetch(`${sl.url}/api/v1/jobs/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ecosystem: 'npm' }),
  });
  const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as { outcome: { status: string; result: unknown } };
  if (last.outcome.status !== 'done') throw new Error(`the npm sync did not finish: ${JSON.stringify(last.outcome)}`);
}

/** The documents Safelist serves, written for nginx; returns each scenario's size in bytes. */
async function mirrorForNginx(sl: { url: string }, www: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const s of SCENARIOS) {
    const res = await fetch(`${sl.url}/npm/default/${NAME}`, { headers: { accept: s.accept } });
    const body = Buffer.from(await res.arrayBuffer());
    const listed = Object.keys((JSON.parse(body.toString('utf8')) as { versions: object }).versions).length;
    if (!res.ok || listed !== VERSIONS) throw new Error(`Safelist lists ${listed} of ${VERSIONS} versions (HTTP ${res.status})`);
    await writeFile(join(www, `${NAME}.${s.ext}`), body);
    sizes[s.key] = body.length;
  }
  return sizes;
}

async function checkNginx(nginx: NginxServer, sizes: Record<string, number>): Promise<void> {
  for (const s of SCENARIOS) {
    const res = await fetch(`${nginx.url}${NAME}.${s.ext}`);
    const n = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200 || n !== sizes[s.key])
      throw new Error(`nginx does not serve ${NAME}.${s.ext} as Safelist did (${res.status}, ${n} bytes)`);
  }
}

async function main(): Promise<void> {
  for (const [cmd, pkg] of [
    ['wrk', 'wrk'],
    ['nginx', 'nginx-light'],
  ])
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
      throw new Error(`${cmd} not found: run scripts/test-deps (Debian package ${pkg})`);
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-npm-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    process.stdout.write(`verdaccio with ${VERSIONS} versions of ${NAME} ... `);
    const verdaccio = await startSeededVerdaccio(work);
    stops.push(verdaccio.stop);
    const sl = await startSafelist(work, verdaccio.url);
    stops.unshift(sl.stop);
    process.stdout.write('done\nSafelist syncs them from verdaccio ... ');
    await syncSafelist(sl);
    process.stdout.write('done\n');
    const www = join(work, 'www');
    await mkdir(www);
    const sizes = await mirrorForNginx(sl, www);
    const nginx = await startNginx({ root: www, types: { abbrev: SCENARIOS[0].accept, json: SCENARIOS[1].accept } });
    stops.unshift(nginx.stop);
    await checkNginx(nginx, sizes);
    await report(sl, verdaccio, nginx, sizes);
  } finally {
    for (const stop of stops) await stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function report(sl: { url: string }, verdaccio: { url: string }, nginx: NginxServer, sizes: Record<string, number>): Promise<void> {
  const rows: string[] = [];
  const ratios: string[] = [];
  const line = (title: string, server: string, r: WrkResult) =>
    rows.push(
      `${title.padEnd(40)} ${server.padEnd(10)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50.padStart(8)}  p99 ${r.p99.padStart(8)}${r.errors ? `  ERRORS ${r.errors}` : ''}`,
    );
  // Warm up each server on each document (JIT, Safelist's rendered-document cache) before measuring.
  for (const s of SCENARIOS) {
    await wrk(`${sl.url}/npm/default/${NAME}`, s.accept, 2);
    await wrk(`${verdaccio.url}/${NAME}`, s.accept, 2);
  }
  for (const s of SCENARIOS) {
    const title = `${VERSIONS}-version packument, ${s.key} (${(sizes[s.key]! / 1024).toFixed(0)} KiB)`;
    const safelist = await wrk(`${sl.url}/npm/default/${NAME}`, s.accept);
    const verd = await wrk(`${verdaccio.url}/${NAME}`, s.accept);
    const ngx = await wrk(`${nginx.url}${NAME}.${s.ext}`, s.accept);
    line(title, 'safelist', safelist);
    line('', 'verdaccio', verd);
    line('', 'nginx', ngx);
    ratios.push(
      `${s.key.padEnd(12)} safelist/verdaccio ${(safelist.rps / verd.rps).toFixed(1)}x (target >= 10)   safelist/nginx ${(safelist.rps / ngx.rps).toFixed(2)}x (target >= 0.5)`,
    );
    if (safelist.errors) throw new Error(`Safelist answered errors under load (${s.key})`);
  }
  process.stdout.write(
    `\nwrk -t2 -c${CONNECTIONS} -d${DURATION}s on ${spawnSync('nproc').stdout.toString().trim()} cores; nginx 1 worker; load average ${(
      await import('node:os')
    )
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n\n`,
  );
  process.stdout.write(`${rows.join('\n')}\n\n${ratios.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
