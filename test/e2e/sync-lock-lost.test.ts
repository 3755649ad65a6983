// A sync whose lock connection drops stops, and another process can then run it — never both at
// once. As operators run it: `safelist sync` (the CLI, its own process) beside a server on the
// same PostgreSQL database and storage. The CLI's sync is mid-download from an upstream that
// holds the file back when the connection holding its advisory lock is ended
// (pg_terminate_backend, as a restart or a network cut would). The CLI ends the transfer, records
// the run as failed saying it lost its lock, and exits; the server's run, busy until then, takes
// the lock and stores the file. Real parts: the CLI process, PostgreSQL, an HTTP upstream.
import { createServer, type Server } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { syncJobs } from '../../src/jobs/sync.js';
import { pino } from 'pino';
import { lockHolders, terminateLockHolder } from '../support/advisory-locks.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { startTestSafelist, writeCliConfigBeside, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { serveDownload, type HeldDownload } from '../support/held-download.js';

describe('a sync that loses its lock (the CLI beside a server on PostgreSQL)', () => {
  let work: string;
  let wheel: BuiltWheel;
  let bytes: Buffer;
  let upstream: Server;
  let upstreamUrl: string;
  /** While true, the file is sent in part and then held back (the connection stays open). */
  let holdBack = true;
  /** Downloads of the file the upstream saw, and whether the client closed each before its end. */
  const downloads: HeldDownload[] = [];
  let sl: TestSafelist;
  let config: string;
  let cliRun: CliProcess | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-lock-lost-'));
    wheel = await buildWheel(join(work, 'wheels'), { name: 'lost-pkg', version: '1.0' });
    bytes = await readFile(wheel.path);
    upstream = createServer((req, res) => {
      if (req.url === '/simple/lost-pkg/') {
        res.setHeader('content-type', 'text/html');
        return void res.end(`<a href="/files/${wheel.filename}#sha256=${wheel.sha256}">${wheel.filename}</a>\n`);
      }
      if (req.url !== `/files/${wheel.filename}`) return void res.writeHead(404).end();
      serveDownload(res, bytes, holdBack, downloads);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/simple/`;
    // A long sync timeout: the held download never stalls out; only the lost lock can end it.
    const syncSection = { schedule: '', timeout: '10m' };
    sl = await startTestSafelist({
      db: 'pg',
      allowlist: 'packages:\n  - lost-pkg\n',
      upstreams: [{ name: 'up', url: upstreamUrl }],
      extra: { sync: syncSection },
    });
    config = join(work, 'safelist.yaml');
    await writeCliConfigBeside(sl, config, [
      `pypi: { upstreams: [ { name: up, url: "${upstreamUrl}" } ] }`,
      `sync: ${JSON.stringify(syncSection)}`,
    ]);
  });

  afterAll(async () => {
    cliRun?.child.kill('SIGKILL');
    await sl?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('stops the CLI sync mid-download, records why, and the server then runs it alone', async () => {
    const db = sl.runtime.db;
    // The server's own runs: a runner over its runtime (its database, its lock session).
    const server = new JobRunner({ runtime: sl.runtime, config: sl.config, log: pino({ level: 'silent' }) });
    cliRun = spawnCli(['--config', config, 'sync']);
    await until(() => downloads.length === 1 || cliRun!.child.exitCode !== null || undefined, 'the CLI sync to start the download');
    expect(downloads, cliRun.output().stderr).toHaveLength(1);
    // While the CLI holds the lock, the server's run is busy: never two at once.
    expect(await server.run(syncJobs.get('pypi')!, {})).toEqual({ status: 'busy', lock: 'sync:pypi' });
    const cliLockHolder = (await lockHolders(db, 'sync:pypi'))[0];
    expect(cliLockHolder).toBeDefined();

    await terminateLockHolder(db, 'sync:pypi');
    const exit = await cliRun.exited;
    const { stderr } = cliRun.output();
    expect(exit.code, stderr).toBe(2);
    expect(stderr).toMatch(/safelist: sync:pypi lost its lock: database connection dropped \([^)]+\); run it again/);
    // It ended the transfer in flight instead of finishing the file without its lock.
    expect(downloads[0]).toEqual({ held: true, closedByClient: true });
    expect(await sl.runtime.store.stat(blobKeyForSha256(wheel.sha256))).toBeUndefined();
    const runs = await db.query<{ job: string; status: string; error: string | null; actor: string }>(
      "SELECT job, status, error, actor FROM job_runs WHERE job = 'sync:pypi' ORDER BY id",
    );
    expect(runs).toEqual([expect.objectContaining({ job: 'sync:pypi', status: 'failed', actor: expect.stringMatching(/^cli:/) })]);
    expect(runs[0]!.error).toMatch(/^sync:pypi lost its lock: database connection dropped/);

    // The lock is free: the server's run takes it and stores the file.
    holdBack = false;
    const o = await server.run(syncJobs.get('pypi')!, {});
    expect(o).toMatchObject({ status: 'done', result: { downloaded: 1, failed: [] } });
    expect(downloads.map((d) => d.held)).toEqual([true, false]);
    expect(openedPypi(sl.runtime).catalog.file(wheel.sha256)).toMatchObject({ stored: true });
    expect(await sl.runtime.store.stat(blobKeyForSha256(wheel.sha256))).toBeDefined();
    expect(await lockHolders(db, 'sync:pypi')).toEqual([]);
  }, 120_000);
});
