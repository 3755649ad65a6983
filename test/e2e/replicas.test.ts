// Three Safelist processes (`safelist serve`, separate OS processes) on one PostgreSQL database
// and one Azurite: a policy change through one is served by the others; the scheduled sync
// (every second on every replica) runs on one replica at a time; killing the replica in the
// middle of a download lets another take the lock and finish it, with no partial file visible;
// an exception approved through one replica is offered by the index of the other at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { cliArgv, ROOT } from '../support/cli.js';
import { createPgDatabase } from '../support/databases.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { buildWheel } from '../support/wheels.js';

/** A PEP 503 upstream whose one wheel trickles out slowly; counts concurrent downloads. */
async function slowUpstream(wheel: { filename: string; bytes: Buffer; sha256: string }) {
  let inFlight = 0;
  let maxInFlight = 0;
  let started = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/simple/slow-pkg/') {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<a href="/files/${wheel.filename}#sha256=${wheel.sha256}">${wheel.filename}</a>`);
      return;
    }
    if (req.url === `/files/${wheel.filename}`) {
      started++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(wheel.bytes.length) });
      let off = 0;
      const done = () => {
        inFlight--;
        clearInterval(timer);
      };
      const timer = setInterval(() => {
        if (res.destroyed) return done();
        const chunk = wheel.bytes.subarray(off, off + 64 * 1024);
        off += chunk.length;
        if (off >= wheel.bytes.length) {
          res.end(chunk);
          done();
        } else res.write(chunk);
      }, 60);
      res.on('close', () => {
        if (off < wheel.bytes.length) done();
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/simple/`,
    stats: () => ({ started, inFlight, maxInFlight }),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('three replicas on one PostgreSQL and one Azurite', () => {
  let azurite: Azurite;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let upstream: Awaited<ReturnType<typeof slowUpstream>>;
  let work: string;
  let wheel: { filename: string; bytes: Buffer; sha256: string };
  const replicas: Array<{ name: string; url: string; child: ChildProcess; config: string }> = [];
  const launch = (config: string) =>
    spawn(process.execPath, cliArgv('--config', config, 'serve'), {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-replicas-'));
    // ~2.5 MB of incompressible module content: the download takes a few seconds.
    const built = await buildWheel(join(work, 'dist'), {
      name: 'slow-pkg',
      version: '1.0',
      modules: { slow_pkg: `DATA = "${randomBytes(1_900_000).toString('base64')}"\n` },
    });
    const bytes = await readFile(built.path);
    wheel = { filename: built.filename, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    upstream = await slowUpstream(wheel);
    azurite = await startAzurite();
    db = await createPgDatabase();
    await mkdir(join(work, 'allowlists'));
    await mkdir(join(work, 'exceptions'));
    await writeFile(join(work, 'allowlists', 'pypi.yaml'), 'packages:\n  - other-pkg\n');
    for (const name of ['replica-a', 'replica-b', 'replica-c']) {
      const port = await freePort();
      const url = new URL(db.url);
      url.searchParams.set('application_name', name);
      const config = join(work, `${name}.yaml`);
      await writeFile(
        config,
        [
          `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
          `storage: { kind: azure, azure: { connectionString: "${azurite.connectionString}", container: replicas } }`,
          `database: { url: "${url.toString()}" }`,
          `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
          `pypi: { upstreams: [ { name: slow, url: "${upstream.url}" } ] }`,
          "sync: { schedule: '*/1 * * * * *', concurrency: 2, timeout: 30s }",
          "audit: { anchorSchedule: '' }",
          'auth:',
          '  tokens:',
          '    - { id: oid-alice, token: alice-token-0123456789, roles: [requester] }',
          "    - { id: oid-bob, token: bob-token-0123456789ab, roles: [approver], views: ['*'] }",
          '',
        ].join('\n'),
      );
      replicas.push({ name, url: `http://127.0.0.1:${port}`, child: launch(config), config });
    }
    for (const r of replicas) await waitForHttp(`${r.url}/healthz`, 60_000, () => r.child.exitCode === null);
  });

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.all(
      replicas.map((r) =>
        r.child.exitCode === null && r.child.signalCode === null ? new Promise((res) => r.child.once('exit', res)) : undefined,
      ),
    );
    await upstream?.stop();
    await db?.drop();
    await azurite?.stop();
  });

  it('syncs on one replica at a time, and another finishes when the one downloading is killed', async () => {
    // Admit slow-pkg: every replica reloads on the admin's reload; here the files change and
    // each replica's policy follows the notification of one of them.
    await writeFile(join(work, 'allowlists', 'pypi.yaml'), 'packages:\n  - other-pkg\n  - slow-pkg\n');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query("SELECT pg_notify('safelist_policy', 'test')");
      // Wait until some replica holds the sync lock and is downloading.
      let holder: string | undefined;
      for (let i = 0; i < 300 && !holder; i++) {
        const { rows } = await admin.query<{ application_name: string }>(
          "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'replica-%'",
        );
        if (rows.length && upstream.stats().inFlight > 0) holder = rows[0]!.application_name;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(holder, 'a replica took the sync lock and started downloading').toBeDefined();
      const victim = replicas.find((r) => r.name === holder)!;
      victim.child.kill('SIGKILL');
      await new Promise((r) => victim.child.once('exit', r));

      // Another replica takes over and finishes; every surviving replica serves the file.
      const survivors = replicas.filter((r) => r !== victim);
      for (const s of survivors) {
        const deadline = Date.now() + 60_000;
        let page = '';
        while (Date.now() < deadline) {
          const res = await fetch(`${s.url}/pypi/default/simple/slow-pkg/`);
          page = res.ok ? await res.text() : '';
          if (page.includes(wheel.filename)) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(page, `${s.name} lists the synced file`).toContain(wheel.filename);
        const file = await fetch(`${s.url}/pypi/default/files/${wheel.sha256}/${wheel.filename}`);
        expect(file.status).toBe(200);
        expect(
          createHash('sha256')
            .update(Buffer.from(await file.arrayBuffer()))
            .digest('hex'),
        ).toBe(wheel.sha256);
      }
      const stats = upstream.stats();
      expect(stats.maxInFlight, 'never two replicas downloading at once').toBe(1);
      expect(stats.started).toBeGreaterThanOrEqual(2); // the killed download, then the finishing one
      const { rows } = await admin.query<{ n: string }>(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'sync.finished' AND detail->>'downloaded' = '1'",
      );
      expect(Number(rows[0]!.n)).toBe(1);
    } finally {
      await admin.end();
    }
  });

  it('shows an approval made through one replica in the index of the other two', async () => {
    // The replica killed above comes back (same configuration): three again.
    for (const r of replicas) {
      if (r.child.exitCode === null && r.child.signalCode === null) continue;
      r.child = launch(r.config);
      await waitForHttp(`${r.url}/healthz`, 60_000, () => r.child.exitCode === null);
    }
    const live = replicas;
    // Hold slow-pkg 1.0 back by policy on every replica, then approve it through one of them.
    await writeFile(join(work, 'allowlists', 'pypi.yaml'), 'packages:\n  - other-pkg\n  - "slow-pkg>=2"\n');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query("SELECT pg_notify('safelist_policy', 'test')");
    await admin.end();
    // Refused: slow-pkg's only version is held back, so the page lists no file to install (a
    // PEP 792 quarantined page, or the file yanked); offered: the file is listed, not yanked.
    const offered = async (r: (typeof replicas)[number]) => {
      const res = await fetch(`${r.url}/pypi/default/simple/slow-pkg/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
      const doc = (await res.json()) as { files: Array<{ filename: string; yanked?: unknown }> };
      const file = doc.files.find((f) => f.filename === wheel.filename);
      return file !== undefined && !file.yanked;
    };
    for (const r of live) {
      const deadline = Date.now() + 20_000;
      while ((await offered(r)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      expect(await offered(r)).toBe(false);
    }
    const [via, ...others] = live as [(typeof replicas)[number], ...(typeof replicas)[number][]];
    const post = (path: string, token: string, body: unknown) =>
      fetch(`${via.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = (await (
      await post('/api/v1/exceptions', 'alice-token-0123456789', {
        ecosystem: 'pypi',
        name: 'slow-pkg',
        versions: '==1.0',
        view: 'default',
        reason: 'replica approval test',
      })
    ).json()) as { id: string };
    const t0 = performance.now();
    expect((await post(`/api/v1/exceptions/${created.id}/approve`, 'bob-token-0123456789ab', {})).status).toBe(200);
    const deadline = Date.now() + 20_000;
    const seenAfter: number[] = [];
    for (const other of others) {
      while (!(await offered(other)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      expect(await offered(other)).toBe(true);
      seenAfter.push(performance.now() - t0);
    }
    expect(await offered(via)).toBe(true);
    console.log(
      `the other replicas' indexes offered the approved version ${seenAfter.map((ms) => `${ms.toFixed(0)} ms`).join(' and ')} after the approval was sent`,
    );
  });
});
