// Benchmark of the web console's pages: each page asked for N times in a row by a signed-in
// client over real HTTP, against a 10,000-project PyPI catalog (half of it allowlisted) with
// exception requests waiting; prints p50/p95 per page. Targets (issue 14): every page ≤ 50 ms
// at p95, catalog search ≤ 20 ms. Measured at the client on loopback, so the figures include
// HTTP on this machine: an upper bound of the server-side time. Nothing here runs in the tests.
//
//   npx tsx bench/console.ts [--projects 10000] [--requests 200] [--requests-waiting 50]
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.js';
import type { PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { openedPypi } from '../src/ecosystems/pypi/module.js';
import { startServer } from '../src/server.js';
import { ConsoleClient } from '../test/support/console-client.js';

const { values: args } = parseArgs({
  options: {
    projects: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '200' },
    'requests-waiting': { type: 'string', default: '50' },
  },
});
const PROJECTS = Number(args.projects);
const N = Number(args.requests);
const WAITING = Number(args['requests-waiting']);
const TOKENS = { requester: 'bench-requester-token-0123456789', approver: 'bench-approver-token-0123456789' };

function file(project: string, version: string): PypiFile {
  const sha256 = createHash('sha256').update(`${project}-${version}`).digest('hex');
  return {
    sha256,
    project,
    displayName: project,
    version,
    filename: `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`,
    size: 256,
    requiresPython: '>=3.8',
    uploadTime: new Date(Date.UTC(2024, 0, 1)),
    yanked: null,
    metadataSha256: null,
    stored: true,
    metadataStored: false,
    source: 'bench',
    sourceUrl: null,
  };
}

async function measure(client: ConsoleClient, path: string): Promise<{ p50: number; p95: number; status: number }> {
  const times: number[] = [];
  let status = 0;
  for (let i = 0; i < N + 10; i++) {
    const t = performance.now();
    status = (await client.request('GET', path)).status;
    if (i >= 10) times.push(performance.now() - t); // the first 10 warm up
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(N * 0.5)]!, p95: times[Math.floor(N * 0.95)]!, status };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-console-'));
  await mkdir(join(work, 'allowlists'));
  await mkdir(join(work, 'exceptions'));
  const names = Array.from({ length: PROJECTS }, (_, i) => `proj-${String(i).padStart(5, '0')}`);
  const allowed = names.filter((_, i) => i % 2 === 0);
  await writeFile(join(work, 'allowlists', 'pypi.yaml'), `packages:\n${allowed.map((n) => `  - "${n}<1.1"`).join('\n')}\n`);
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
    storage: { kind: 'fs', path: join(work, 'blobs') },
    database: { pglitePath: 'memory://' },
    policy: { allowlistDir: join(work, 'allowlists'), exceptionsDir: join(work, 'exceptions') },
    views: { 'team-a': {} },
    sync: { schedule: '' },
    exceptions: { expirySchedule: '' },
    auth: {
      tokens: [
        { id: 'oid-r', name: 'Requester', token: TOKENS.requester, roles: ['requester'] },
        { id: 'oid-a', name: 'Approver', token: TOKENS.approver, roles: ['approver'], views: ['*'] },
      ],
    },
  });
  const server = await startServer(config);
  try {
    const rt = server.runtime;
    const catalog = names.flatMap((n) => [file(n, '1.0'), file(n, '1.1')]);
    for (let i = 0; i < catalog.length; i += 1000) await rt.db.tx((q) => openedPypi(rt).catalog.upsert(catalog.slice(i, i + 1000), q));
    const requester = new ConsoleClient(server.url);
    const approver = new ConsoleClient(server.url);
    await requester.signInWithToken(TOKENS.requester);
    await approver.signInWithToken(TOKENS.approver);
    const who = {
      oid: 'oid-r',
      name: 'Requester',
      roles: new Set(['requester'] as const),
      approverViews: new Set<string>(),
      via: 'static' as const,
    };
    for (let i = 0; i < WAITING; i++)
      await rt.exceptions.create(who, {
        ecosystem: 'pypi',
        name: names[2 * i + 1]!,
        versions: '',
        view: 'team-a',
        reason: 'benchmark request',
      });
    const pages: Array<[string, ConsoleClient, string]> = [
      ['search (substring)', requester, '/ui/?q=proj-0424&view=team-a'],
      ['search (typo, close matches)', requester, '/ui/?q=porj-04242&view=team-a'],
      ['package page', requester, '/ui/packages/pypi/proj-04242?view=team-a'],
      ['request form with triage', requester, '/ui/request?ecosystem=pypi&name=proj-04243&view=team-a&versions=%3D%3D1.0'],
      [`my requests (${WAITING})`, requester, '/ui/requests'],
      [`approver queue (${WAITING} waiting)`, approver, '/ui/queue?scope=all'],
      ['one request', approver, '/ui/requests/EXC-1000'],
    ];
    console.log(`${PROJECTS} projects (${allowed.length} allowlisted), ${N} sequential requests per page`);
    for (const [label, client, path] of pages) {
      const r = await measure(client, path);
      console.log(`${label.padEnd(34)} status ${r.status}  p50 ${r.p50.toFixed(1)} ms  p95 ${r.p95.toFixed(1)} ms`);
    }
  } finally {
    await server.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
