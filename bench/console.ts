// Benchmark of the web console's server-side latency: every console page and the catalog
// search, with the benchmark's 10,000-project PyPI catalog (2 wheels each, as bench/pypi-index.ts
// seeds it) and realistic side data: gate images with verdicts and purges, blocked-demand
// counts in three views, exception requests waiting, an audit trail, and job runs. Safelist runs in this process
// (startServer, as the tests start it); each page is asked for sequentially through
// fastify's inject() with a signed-in session cookie, so the figure is the server's own time
// to answer, with no network or client in it. Prints p50/p95 per page against the targets
// (pages ≤ 50 ms p95, search ≤ 20 ms p95) and the machine's load average: measured, never
// asserted. Nothing here runs in the tests.
//
//   npx tsx bench/console.ts                       # embedded PGlite, 200 requests per page
//   npx tsx bench/console.ts --requests 500 --audit 20000
//   npx tsx bench/console.ts --pg                  # a throw-away database on the PostgreSQL server (TEST_PG_URL)
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PypiFile } from '../src/ecosystems/pypi/catalog.js';
import { openedPypi } from '../src/ecosystems/pypi/module.js';
import type { Finding } from '../src/gate/types.js';
import { NAV } from '../src/console/layout.js';
import { auditVerifyJob } from '../src/jobs/maintenance.js';
import { JobRunner } from '../src/jobs/runner.js';
import { JobRuns } from '../src/jobs/runs.js';
import { openRuntime } from '../src/runtime.js';
import { startServer, type RunningServer } from '../src/server.js';
import { createPgDatabase } from '../test/support/databases.js';
import { ConsoleClient } from '../test/support/console-client.js';
import { judgedImage } from '../test/support/gate-records.js';
import { configSchema } from '../src/ecosystems/index.js';

const { values: args } = parseArgs({
  options: {
    projects: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '200' },
    images: { type: 'string', default: '400' },
    audit: { type: 'string', default: '10000' },
    demand: { type: 'string', default: '3000' },
    /** Exception requests waiting for a decision (the approver queue, my requests, one request). */
    'requests-waiting': { type: 'string', default: '50' },
    /** A throw-away database on the PostgreSQL server (TEST_PG_URL, default 127.0.0.1:5432) instead of PGlite. */
    pg: { type: 'boolean', default: false },
    /** Only the pages whose label or URL contains this text. */
    only: { type: 'string', default: '' },
  },
});
const PROJECTS = Number(args.projects);
const REQUESTS = Number(args.requests);
const IMAGES = Number(args.images);
const AUDIT = Number(args.audit);
const DEMAND = Number(args.demand);
const WAITING = Number(args['requests-waiting']);
const TOKEN = 'bench-admin-token-0123456789';
const REQUESTER_TOKEN = 'bench-requester-token-0123456789';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const name = (i: number) => `proj-${String(i).padStart(5, '0')}`;

function fileRecord(project: string, version: string): PypiFile {
  const filename = `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  return {
    sha256: sha(filename),
    project,
    displayName: project,
    version,
    filename,
    size: 256,
    requiresPython: '>=3.8',
    uploadTime: new Date(Date.UTC(2024, 0, 1)),
    yanked: null,
    metadataSha256: sha(`${filename}.metadata`),
    stored: true,
    metadataStored: true,
    source: 'bench',
    sourceUrl: null,
  };
}

async function writeConfig(work: string, databaseUrl: string | undefined) {
  await mkdir(join(work, 'allowlists'), { recursive: true });
  await mkdir(join(work, 'exceptions'), { recursive: true });
  const names = Array.from({ length: PROJECTS }, (_, i) => name(i));
  await writeFile(join(work, 'allowlists', 'pypi.yaml'), `packages:\n${names.map((n) => `  - ${n}`).join('\n')}\n`);
  const until = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  await writeFile(
    join(work, 'allowlists', 'containers.yaml'),
    `severity: high\nexceptions:\n${Array.from(
      { length: 40 },
      (_, i) =>
        `  - { cve: CVE-2024-${1000 + i}, owner: team@example.com, justification: "bench exception ${i}", expires: "${until(i * 3)}" }`,
    ).join('\n')}\n`,
  );
  return configSchema.parse({
    server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl: 'https://safelist.bench.example' },
    storage: { kind: 'fs', path: join(work, 'blobs') },
    database: databaseUrl ? { url: databaseUrl, pglitePath: 'memory://' } : { pglitePath: join(work, 'pglite') },
    policy: { allowlistDir: join(work, 'allowlists'), exceptionsDir: join(work, 'exceptions') },
    views: { 'team-a': {}, 'team-b': {}, 'team-c': {} },
    sync: { schedule: '' },
    exceptions: { expirySchedule: '' },
    auth: {
      tokens: [
        { id: 'oid-bench', name: 'Bench', token: TOKEN, roles: ['admin', 'auditor', 'approver'] },
        { id: 'oid-requester', name: 'Requester', token: REQUESTER_TOKEN, roles: ['requester'] },
      ],
    },
  });
}

/** The catalog, demand counts, audit records and job runs, written before the server starts. */
async function seedCatalog(config: ReturnType<typeof configSchema.parse>): Promise<void> {
  const rt = await openRuntime(config);
  try {
    const files = Array.from({ length: PROJECTS }, (_, i) => [fileRecord(name(i), '1.0'), fileRecord(name(i), '1.1')]).flat();
    for (let i = 0; i < files.length; i += 2000) await rt.db.tx((q) => openedPypi(rt).catalog.upsert(files.slice(i, i + 2000), q));
    const views = ['team-a', 'team-b', 'team-c'];
    await rt.db.query(
      `INSERT INTO blocked_demand (ecosystem, name, view, count, last_at)
       SELECT 'pypi', 'wanted-' || g, (ARRAY['team-a','team-b','team-c'])[1 + g % 3], 1 + (g * 7919) % 500, now() FROM generate_series(1, $1) g`,
      [DEMAND],
    );
    for (let i = 0; i < AUDIT; i++)
      await rt.audit.append({
        actor: `oid-${i % 50}`,
        action: i % 5 ? 'exception.requested' : 'policy.reloaded',
        subject: `EXC-${i}`,
        detail: { i, views },
      });
    const requester = {
      oid: 'oid-requester',
      name: 'Requester',
      roles: new Set(['requester'] as const),
      approverViews: new Set<string>(),
      readViews: new Set<string>(),
      via: 'static' as const,
    };
    for (let i = 0; i < WAITING; i++)
      await rt.exceptions.create(requester, {
        ecosystem: 'pypi',
        name: `wanted-${i}`,
        versions: '',
        view: 'team-a',
        reason: 'benchmark request',
      });
    const runs = new JobRuns(rt.db, quiet);
    for (let i = 0; i < 60; i++) {
      const job = ['sync', 'sync:pypi', 'sync:conda', 'sync:oci'][i % 4]!;
      const r = await runs.start(job, 'system', {});
      r.note({ type: 'project', name: name(i), index: i, total: PROJECTS });
      await r.finish(
        i % 9 ? { status: 'done', result: { downloaded: i, bytes: i * 1000, failed: [] } } : { status: 'failed', error: 'upstream down' },
      );
    }
  } finally {
    await rt.close();
  }
}

/** Gate images as the worker records them: push, claim, verdict (evaluate), purge of failures. */
async function seedGate(sl: RunningServer, config: ReturnType<typeof configSchema.parse>): Promise<string> {
  const policy = join(config.policy.allowlistDir, 'containers.yaml');
  for (let i = 0; i < IMAGES; i++) {
    const findings: Finding[] = Array.from({ length: 8 }, (_, k) => ({
      id: `CVE-2024-${1000 + ((i + k) % 80)}`,
      severity: (['critical', 'high', 'medium', 'low'] as const)[k % 4]!,
      package: `lib${k}`,
      installedVersion: '1.0',
      fixedVersion: '1.1',
      fixable: true,
      source: 'bench',
    }));
    const image = { registry: 'acr', repository: `team${i % 20}/app${i % 7}`, digest: `sha256:${sha(`image-${i}`)}`, tag: `v${i}` };
    await judgedImage(sl.runtime.db, policy, { ...image, findings });
  }
  return `sha256:${sha('image-0')}`;
}

async function measure(
  sl: RunningServer,
  cookie: string,
  url: string,
  requests: number,
): Promise<{ status: number; p50: number; p95: number }> {
  const times: number[] = [];
  let status = 0;
  for (let i = 0; i < requests + 10; i++) {
    const t = performance.now();
    const res = await sl.app.inject({ method: 'GET', url, headers: { cookie } });
    const ms = performance.now() - t;
    status = res.statusCode;
    if (i >= 10) times.push(ms); // the first ten warm caches and the JIT
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { status, p50: at(0.5), p95: at(0.95) };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-bench-console-'));
  const pg = args.pg ? await createPgDatabase() : undefined;
  let sl: RunningServer | undefined;
  try {
    const config = await writeConfig(work, pg?.url);
    process.stdout.write(`seeding ${PROJECTS} projects, ${AUDIT} audit records, ${DEMAND} demand rows ... `);
    await seedCatalog(config);
    sl = await startServer(config);
    process.stdout.write(`${IMAGES} gate images ... `);
    const digest = await seedGate(sl, config);
    process.stdout.write('done\n');
    // The verify page shows the audit:verify job's last verdict: one run first, its own time printed (O(records)).
    const t = performance.now();
    const verified = await new JobRunner({ runtime: sl.runtime, config, log: quiet }).run(auditVerifyJob, {}, { actor: 'bench' });
    if (verified.status !== 'done' || !verified.result.ok)
      throw new Error(`the audit:verify job did not verify: ${JSON.stringify(verified)}`);
    console.log(
      `audit:verify job over ${verified.result.records} records: ${(performance.now() - t).toFixed(0)} ms (once, not per request)`,
    );
    const client = new ConsoleClient(sl.url);
    if ((await client.signInWithToken(TOKEN)).status !== 200) throw new Error('the bench identity could not sign in');
    const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const asRequester = new ConsoleClient(sl.url);
    if ((await asRequester.signInWithToken(REQUESTER_TOKEN)).status !== 200) throw new Error('the bench requester could not sign in');
    const requesterCookie = [...asRequester.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    // [label, URL, target p95 ms, requests].
    const pages: Array<[string, string, number, number?]> = [
      ...NAV.map((n) => [n.label, n.href, 50] as [string, string, number]),
      ['Sign-in page (signed out)', '/ui/sign-in', 50],
      ['Package page', `/ui/packages/pypi/${name(4242)}?view=team-a`, 50],
      [`My requests (requester, ${WAITING})`, '/ui/requests', 50],
      [`Approvals, all (${WAITING} waiting)`, '/ui/queue?scope=all', 50],
      ['One request', '/ui/requests/EXC-1000', 50],
      ['Request form with triage', `/ui/request?ecosystem=pypi&name=wanted-7&versions=&view=team-a`, 50],
      ['Gate, one digest with history', `/ui/gate?digest=${digest}`, 50],
      ['Audit, filtered by action', '/ui/audit?action=policy.reloaded', 50],
      ['Audit, chain verification', '/ui/audit/verify', 50],
      ['Demand, one view', '/ui/demand?view=team-a', 50],
      ['Search, exact name', `/ui/?q=${name(Math.floor(PROJECTS / 2))}`, 20],
      ['Search, typo (close matches)', `/ui/?q=${name(Math.floor(PROJECTS / 3)).replace('proj', 'porj')}`, 20],
    ];
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    console.log(`\n${REQUESTS} sequential requests per page (server-side: fastify inject), load average before: ${load}`);
    console.log(`${'page'.padEnd(34)} ${'status'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}  target p95`);
    for (const [label, url, target, n] of pages.filter(([l, u]) => l.includes(args.only) || u.includes(args.only))) {
      const who = url === '/ui/sign-in' ? '' : label.includes('(requester') ? requesterCookie : cookie;
      const r = await measure(sl, who, url, n ?? REQUESTS);
      const verdict = r.status !== 200 ? 'not a page here' : r.p95 <= target ? 'within' : 'OVER';
      console.log(
        `${label.padEnd(34)} ${String(r.status).padStart(6)} ${r.p50.toFixed(2).padStart(8)} ${r.p95.toFixed(2).padStart(8)}  ≤ ${target} ms: ${verdict}`,
      );
    }
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await sl?.close();
    await pg?.drop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
