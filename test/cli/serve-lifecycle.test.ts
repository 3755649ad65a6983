// `safelist serve` as a child process, as an operator runs it:
// - a port already taken: it exits at once, non-zero, saying which port and what to do;
// - package reads behind tokens with a configuration from before read grants: it warns at start,
//   naming the tokens that read every view only for that reason;
// - SIGTERM with idle keep-alive connections and a large download in progress (a client that
//   stopped reading): it stops cleanly and exits 0, nothing left holding the process;
// - SIGTERM while a sync waits on an upstream that never answers: it exits within
//   server.shutdownGrace, non-zero, naming what did not stop.
import http from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli, type CliProcess } from '../support/cli.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { seededPgliteYaml } from '../support/databases.js';

let work: string;
let wheel: BuiltWheel;

async function writeConfig(name: string, port: number, extra: string[] = [], grace = '3s'): Promise<string> {
  const file = join(work, `${name}.yaml`);
  await writeFile(
    file,
    [
      `server: { host: 127.0.0.1, port: ${port}, logLevel: info, shutdownGrace: ${grace} }`,
      `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
      `database: ${seededPgliteYaml(join(work, 'db'))}`,
      `policy: { allowlistDir: ${join(work, 'allowlists')}, exceptionsDir: ${join(work, 'exceptions')} }`,
      "audit: { anchorSchedule: '' }",
      ...extra,
      '',
    ].join('\n'),
  );
  return file;
}

async function serve(config: string, port: number): Promise<CliProcess> {
  const proc = spawnCli(['--config', config, 'serve']);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 90_000, () => proc.child.exitCode === null);
  return proc;
}

/** Idle keep-alive connections, and a download whose client read one chunk and stopped. */
async function traffic(port: number): Promise<() => void> {
  const agent = new http.Agent({ keepAlive: true });
  const get = (path: string) =>
    new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path, agent }, resolve).on('error', reject));
  for (const path of ['/healthz', '/pypi/default/simple/big-pkg/']) {
    const res = await get(path);
    expect(res.statusCode).toBe(200);
    res.resume();
    await new Promise((r) => res.once('end', r));
  }
  const download = await get(`/pypi/default/files/${wheel.sha256}/${wheel.filename}`);
  expect(download.statusCode).toBe(200);
  download.on('error', () => undefined); // the server cuts it off at shutdown: expected
  await new Promise((r) => download.once('data', r));
  download.pause();
  return () => {
    download.destroy();
    agent.destroy();
  };
}

describe('safelist serve lifecycle', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-serve-'));
    await mkdir(join(work, 'allowlists'));
    await mkdir(join(work, 'exceptions'));
    await writeFile(join(work, 'allowlists', 'pypi.yaml'), 'packages:\n  - big-pkg\n');
    // Large and incompressible: far more than the socket buffers hold, so the download stays in progress.
    wheel = await buildWheel(join(work, 'dist'), {
      name: 'big-pkg',
      version: '1.0',
      modules: { big_pkg: `DATA = "${randomBytes(24_000_000).toString('base64')}"\n` },
    });
    const imported = await cli(['--config', await writeConfig('import', 0), 'import', 'pypi', join(work, 'dist')]);
    expect(imported.code, imported.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('exits at once, non-zero, when its port is taken, saying which port and what to do', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await cli(['--config', await writeConfig('taken', port), 'serve']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(r.stderr).toContain('server.port');
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }, 120_000);

  it('warns at start about tokens that read every view only because no token states read', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    const auth = (tokens: string) => [`auth: { packageRead: token, tokens: [${tokens}] }`];
    try {
      // The taken port ends the start right after the app is built, where the warning is logged.
      const old = await cli([
        '--config',
        await writeConfig('old-tokens', port, auth('{ id: old-bot, token: old-bot-token-0123456789, roles: [pipeline] }')),
        'serve',
      ]);
      expect(old.code).toBe(2);
      expect(old.stdout).toMatch(/"level":40,.*"msg":"package reads: the tokens old-bot of auth\.tokens read every view's packages/);
      const scoped = await cli([
        '--config',
        await writeConfig('scoped-tokens', port, auth("{ id: ws, token: ws-token-0123456789, read: ['default'] }")),
        'serve',
      ]);
      expect(scoped.code).toBe(2);
      expect(scoped.stdout).not.toMatch(/package reads:/);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }, 180_000);

  it('stops on SIGTERM with keep-alive connections and a download in progress, and exits 0', async () => {
    const port = await freePort();
    // The default grace: a clean stop must not depend on how busy the machine is.
    const proc = await serve(await writeConfig('clean', port, [], '10s'), port);
    const done = await traffic(port);
    try {
      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      expect({ exit, stdout: proc.output().stdout }).toMatchObject({ exit: { code: 0 } });
      expect(proc.output().stdout).toContain('shutdown: stopped');
    } finally {
      done();
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
  }, 180_000);

  it('exits non-zero within the grace, naming what did not stop, when a sync waits on an upstream that never answers', async () => {
    const sockets: Socket[] = [];
    let reached: () => void = () => undefined;
    const syncReachedUpstream = new Promise<void>((r) => (reached = r));
    const upstream = createServer((s) => {
      sockets.push(s); // accepted, never answered
      reached();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const port = await freePort();
    const config = await writeConfig('stalled', port, [
      `pypi: { upstreams: [ { name: stalled, url: "http://127.0.0.1:${upstreamPort}/simple/" } ] }`,
      "sync: { runOnStart: true, timeout: 30m, schedule: '' }",
    ]);
    const proc = await serve(config, port);
    const done = await traffic(port);
    try {
      await syncReachedUpstream;
      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      expect({ exit, stdout: proc.output().stdout }).toMatchObject({ exit: { code: 1 } });
      expect(proc.output().stdout).toMatch(
        /did not stop within 3000 ms \(server\.shutdownGrace\): waiting for the running jobs \(sync, sync:pypi\)/,
      );
    } finally {
      done();
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise((r) => upstream.close(r));
    }
  }, 180_000);
});
