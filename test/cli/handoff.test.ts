// The embedded database belongs to one process, tested across real process boundaries: a real
// `safelist serve` child on a PGlite folder and the real CLI beside it. Jobs the CLI starts
// (import, sync) are handed to the server, which streams the same progress and report back
// (compared line for line with the same command run where no server holds the folder); what
// they did is served at once, audited with the CLI user, and still there after a restart. A
// second serve on the folder refuses to start, commands that cannot hand over refuse without
// opening it, and a server killed with SIGKILL leaves a stale lock the next start takes over.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCondaPackage } from '../support/conda-channel.js';
import { cli, cliArgv, ROOT } from '../support/cli.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { seededPgliteYaml } from '../support/databases.js';

const AUDITOR = 'auditor-token-handoff-0123456789';

interface World {
  dir: string;
  config: string;
}

/** A Safelist configuration on its own PGlite folder and storage, with a PyPI upstream. */
async function world(name: string, upstreamUrl: string, port: number): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), `safelist-handoff-${name}-`));
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - hand-pkg\n');
  await writeFile(join(dir, 'allowlists', 'conda.yaml'), 'channels:\n  conda-forge:\n    - handlib\n');
  const config = join(dir, 'safelist.yaml');
  await writeFile(
    config,
    [
      `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
      `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
      `database: ${seededPgliteYaml(join(dir, 'pglite'))}`,
      `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
      `pypi: { upstreams: [ { name: up, url: "${upstreamUrl}" } ] }`,
      "conda: { channels: [ { name: conda-forge, url: 'http://127.0.0.1:9/conda-forge', subdirs: [linux-64] } ] }",
      "sync: { schedule: '' }",
      "audit: { anchorSchedule: '' }",
      `auth: { tokens: [ { id: oid-auditor, token: ${AUDITOR}, roles: [auditor] } ] }`,
      '',
    ].join('\n'),
  );
  return { dir, config };
}

function serve(w: World, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, cliArgv('--config', w.config, 'serve'), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, exited };
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** Waits for the server to answer and to have published its hand-off address in the lock file. */
async function ready(w: World, url: string, child: ChildProcess): Promise<void> {
  await waitForHttp(`${url}/healthz`, 60_000, () => alive(child));
  await until(
    async () =>
      existsSync(join(w.dir, 'pglite', 'safelist.lock')) &&
      (JSON.parse(await readFile(join(w.dir, 'pglite', 'safelist.lock'), 'utf8')) as { url?: string }).url,
    'the lock file to name the server',
  );
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

describe('the CLI beside a running server on the embedded database', () => {
  let upstream: TestSafelist;
  let wheel: BuiltWheel;
  let pkgs: string;
  let shared: World;
  let alone: World;
  let url: string;
  let server: ReturnType<typeof serve>;

  beforeAll(async () => {
    // The PyPI upstream: a Safelist serving a wheel (PEP 503 pages over its own storage).
    upstream = await startTestSafelist({ allowlist: 'packages:\n  - hand-pkg\n' });
    const wheels = join(upstream.dir, 'wheels');
    wheel = await buildWheel(wheels, { name: 'hand-pkg', version: '1.0' });
    const { importPypiDir } = await import('../../src/ecosystems/pypi/importer.js');
    await importPypiDir(wheels, { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
    const upstreamUrl = `${upstream.url}/pypi/default/simple/`;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    shared = await world('shared', upstreamUrl, port);
    alone = await world('alone', upstreamUrl, await freePort());
    pkgs = join(shared.dir, 'pkgs');
    await buildCondaPackage(pkgs, { name: 'handlib', version: '1.0' });
    await buildCondaPackage(pkgs, { name: 'handlib', version: '1.1', format: 'tar.bz2' });
    await writeFile(join(pkgs, 'broken-1.0-0.conda'), 'not a zip');
    server = serve(shared);
    await ready(shared, url, server.child);
  }, 120_000);

  afterAll(async () => {
    await stop(server.child);
    await upstream?.stop();
    for (const w of [shared, alone]) if (w) await rm(w.dir, { recursive: true, force: true });
  });

  it('hands `import conda DIR` to the server: the same progress, report and exit code as a local run, served at once and audited', async () => {
    const local = await cli(['--config', alone.config, 'import', 'conda', pkgs]);
    expect(local.code, local.stderr).toBe(1); // the broken file is skipped
    expect(JSON.parse(local.stdout)).toEqual({ channel: 'conda-forge', imported: 2, skipped: 1 });

    const handed = await cli(['--config', shared.config, 'import', 'conda', pkgs]);
    expect(handed.code, handed.stderr).toBe(local.code);
    expect(handed.stdout).toBe(local.stdout);
    expect(handed.stderr).toBe(local.stderr);
    expect(handed.stderr).toMatch(/skipped .*broken-1\.0-0\.conda: not a \.conda \(zip\) file/);

    // In the server's index as soon as the command returns: the server did the writing.
    const repodata = (await (await fetch(`${url}/conda/default/conda-forge/linux-64/repodata.json`)).json()) as {
      packages: object;
      'packages.conda': object;
    };
    expect(
      [...Object.keys(repodata.packages), ...Object.keys(repodata['packages.conda'])].filter((f) => f.startsWith('handlib-')),
    ).toHaveLength(2);

    const audit = (await (
      await fetch(`${url}/api/v1/audit?action=import.finished`, { headers: { authorization: `Bearer ${AUDITOR}` } })
    ).json()) as { records: Array<{ actor: string; subject: string; detail: { imported: number; skipped: number } }> };
    expect(audit.records).toEqual([
      expect.objectContaining({
        actor: `cli:${userInfo().username}`,
        subject: 'conda',
        detail: expect.objectContaining({ imported: 2, skipped: 1 }),
      }),
    ]);
  });

  it('hands `sync` to the server, which streams the progress back, and records the run', async () => {
    const handed = await cli(['--config', shared.config, 'sync']);
    // conda has an allowlist, so the one rule syncs it too; its upstream is unreachable: exit 1, as locally.
    expect(handed.code, handed.stderr).toBe(1);
    expect(handed.stderr).toMatch(/failed: conda-forge\/linux-64\/repodata\.json: conda-forge: upstream unreachable at /);
    expect(handed.stderr).toMatch(/\[1\/1\] hand-pkg: 1 upstream file\(s\) on up, 1 to fetch/);
    expect(handed.stderr).toContain(`stored  ${wheel.filename}`);
    const lines = handed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ downloaded: 1, failed: 0 });
    expect(lines[1]).toMatchObject({ conda: { downloaded: 0, failed: 2 } });

    const page = await (await fetch(`${url}/pypi/default/simple/hand-pkg/`)).text();
    expect(page).toContain(wheel.filename);
    const audit = (await (
      await fetch(`${url}/api/v1/audit?action=sync.finished&subject=pypi`, { headers: { authorization: `Bearer ${AUDITOR}` } })
    ).json()) as { records: Array<{ actor: string; detail: { downloaded: number } }> };
    expect(audit.records).toEqual([
      expect.objectContaining({ actor: `cli:${userInfo().username}`, detail: expect.objectContaining({ downloaded: 1 }) }),
    ]);

    // The dry run is handed over too, and now finds the file present.
    const plan = await cli(['--config', shared.config, 'sync', '--dry-run', '--ecosystem', 'pypi']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('hand-pkg (up): fetch 0, present 1');
  });

  it('hands `incident` to the server: who downloaded the file, from the download log the server writes', async () => {
    const page = await (
      await fetch(`${url}/pypi/default/simple/hand-pkg/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })
    ).json();
    const file = (page as { files: Array<{ url: string }> }).files[0]!.url;
    const res = await fetch(new URL(file, `${url}/pypi/default/simple/hand-pkg/`));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    // The server writes its log off the request path (every downloads.flushInterval): ask until it is there.
    const out = await until(async () => {
      const r = await cli(['--config', shared.config, 'incident', 'hand-pkg==1.0']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.includes('count 1') ? r.stdout : undefined;
    }, 'the download in the incident report');
    expect(out).toMatch(/^ {2}view default {2}identity anonymous {2}first \S+ {2}last \S+ {2}count 1$/m);
  });

  it('refuses a second server on the same folder, and commands that cannot hand over, without opening it', async () => {
    // On a port of its own: what stops it is the folder, not the address.
    const second = serve(shared, { SAFELIST_SERVER__PORT: String(await freePort()) });
    const killed = setTimeout(() => second.child.kill('SIGKILL'), 60_000); // started after all: fail, don't hang
    const { code, stderr } = await second.exited;
    clearTimeout(killed);
    expect(code).toBe(2);
    expect(stderr).toMatch(/in use by safelist serve \(pid \d+\) at http:\/\/127\.0\.0\.1:\d+/);
    expect(alive(server.child)).toBe(true);

    const why = await cli(['--config', shared.config, 'why', 'hand-pkg']);
    expect(why.code).toBe(2);
    expect(why.stderr).toMatch(/in use by safelist serve .*\/api\/v1\/policy\/why/);
    const exported = await cli(['--config', shared.config, 'audit', 'export']);
    expect(exported.code).toBe(2);
    expect(exported.stderr).toMatch(/in use by safelist serve/);
    // The server still serves what it had: nobody else opened its folder.
    expect((await fetch(`${url}/pypi/default/simple/hand-pkg/`)).status).toBe(200);
    // Anchoring is a job: handed over too.
    const anchor = await cli(['--config', shared.config, 'audit', 'anchor']);
    expect(anchor.code, anchor.stderr).toBe(0);
    expect(anchor.stdout).toMatch(/^anchored record \d+ [0-9a-f]{64}\n$/);
    // So is verification: the server's audit:verify job, printed as a local run prints it.
    const verify = await cli(['--config', shared.config, 'audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^\d+ record\(s\), \d+ anchor\(s\), head \d+ [0-9a-f]{64}\naudit log verified: intact\n$/);
  });

  it('starts again after the server was killed with SIGKILL (stale lock), with everything handed over kept', async () => {
    await stop(server.child, 'SIGKILL');
    const lock = join(shared.dir, 'pglite', 'safelist.lock');
    expect((await stat(lock)).mode & 0o777).toBe(0o600); // left behind, unreadable to others
    server = serve(shared);
    await ready(shared, url, server.child);
    const page = await (await fetch(`${url}/pypi/default/simple/hand-pkg/`)).text();
    expect(page).toContain(wheel.filename);
    const repodata = (await (await fetch(`${url}/conda/default/conda-forge/linux-64/repodata.json`)).json()) as {
      'packages.conda': object;
    };
    expect(Object.keys(repodata['packages.conda']).some((f) => f.startsWith('handlib-1.0-'))).toBe(true);
  });

  it('runs locally once the server has stopped, and releases the folder', async () => {
    await stop(server.child);
    expect(existsSync(join(shared.dir, 'pglite', 'safelist.lock'))).toBe(false);
    const r = await cli(['--config', shared.config, 'sync', '--ecosystem', 'pypi']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: 0, failed: 0 });
    expect(existsSync(join(shared.dir, 'pglite', 'safelist.lock'))).toBe(false);
    // Run here, audited here: the handed-over run (by the server) and this one.
    const exported = await cli(['--config', shared.config, 'audit', 'export', '--action', 'sync.finished', '--subject', 'pypi']);
    const runs = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; detail: { downloaded: number } });
    expect(runs.map((x) => [x.actor, x.detail.downloaded])).toEqual([
      [`cli:${userInfo().username}`, 1],
      [`cli:${userInfo().username}`, 0],
    ]);
    expect((await cli(['--config', shared.config, 'audit', 'verify'])).code).toBe(0);
  });
});
