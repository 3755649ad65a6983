// Policy from Git without restarts, across the process boundary: a real `safelist serve` child
// process over a temporary policy folder (a Git repository). Edits to allowlists/ and
// exceptions/ — written in place, through an editor's rename, by `git checkout` — change what
// /pypi/{view}/simple/ serves without a restart; an invalid edit keeps the last good policy,
// is logged with file:line, audited as policy.rejected and counted in /metrics; SIGHUP reloads
// when watching is off; every policy in force is audited with each file's sha256, from the start.
// Pip-free: the checks are the PEP 503 pages themselves. Each step builds on the previous one.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliArgv, ROOT } from '../support/cli.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { until } from '../support/wait.js';
import { buildWheel } from '../support/wheels.js';
import { seededPgliteYaml } from '../support/databases.js';

const AUDITOR = 'auditor-token-0123456789';
const ADMIN = 'admin-token-0123456789ab';
const EXCEPTION_TEAM_A = [
  'exceptions:',
  '  - { id: EXC-1, ecosystem: pypi, package: gamma, view: team-a, reason: "paper X",',
  '      requested_by: alice, approved_by: bob, expires: 2099-12-31 }',
  '',
].join('\n');

interface AuditRecord {
  seq: number;
  action: string;
  subject: string;
  detail: Record<string, unknown> & {
    trigger?: string;
    files?: Record<string, string>;
    problems?: Array<{ file: string; line: number; message: string }>;
  };
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('policy edits reach a running `safelist serve` without a restart', () => {
  let work: string;
  let policy: string;
  let configPath: string;
  let url: string;
  let server: { child: ChildProcess; output: () => string } | undefined;
  const git = (...args: string[]) =>
    promisify(execFile)('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', '-c', 'init.defaultBranch=main', ...args], {
      cwd: policy,
    });

  const serve = async (env: NodeJS.ProcessEnv = {}) => {
    const child = spawn(process.execPath, cliArgv('--config', configPath, 'serve'), {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    await waitForHttp(`${url}/healthz`, 90_000, () => child.exitCode === null && child.signalCode === null);
    return { child, output: () => out };
  };
  const stopServer = async () => {
    const s = server;
    server = undefined;
    if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await exited;
  };
  const page = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const rootLists = async (view: string, name: string) => (await page(`/pypi/${view}/simple/`)).body.includes(`>${name}<`);
  const audit = async (action: string): Promise<AuditRecord[]> => {
    const res = await fetch(`${url}/api/v1/audit?action=${action}&limit=1000`, { headers: { authorization: `Bearer ${AUDITOR}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { records: AuditRecord[] }).records;
  };
  const metric = async (line: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  /** What the audit should name: each policy file on disk and its sha256 (sha256sum's view). */
  const digestsOnDisk = async () => {
    const files: Record<string, string> = {};
    for (const dir of ['allowlists', 'exceptions']) {
      for (const f of (await readdir(join(policy, dir))).filter((n) => /^[^.].*\.ya?ml$/.test(n)).sort())
        files[`${dir}/${f}`] = sha256(await readFile(join(policy, dir, f)));
    }
    return files;
  };
  const fingerprintOf = (files: Record<string, string>) =>
    sha256(
      Object.entries(files)
        .map(([f, h]) => `${h}  ${f}\n`)
        .join(''),
    );
  /** How an editor that writes through a rename saves: a new file, renamed over the old one. */
  const saveByRename = async (path: string, text: string) => {
    await writeFile(`${path}.tmp-save`, text);
    await rename(`${path}.tmp-save`, path);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-policy-reload-'));
    policy = join(work, 'policy');
    await mkdir(join(policy, 'allowlists'), { recursive: true });
    await mkdir(join(policy, 'exceptions'));
    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - alpha\n');
    await writeFile(join(policy, 'exceptions', 'team-a.yaml'), EXCEPTION_TEAM_A);
    const wheels = join(work, 'wheels');
    for (const [name, version] of [
      ['alpha', '1.0'],
      ['alpha', '2.0'],
      ['beta', '1.0'],
      ['gamma', '1.0'],
    ] as const)
      await buildWheel(wheels, { name, version });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    configPath = join(work, 'safelist.yaml');
    await writeFile(
      configPath,
      [
        `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
        `storage: { kind: fs, path: ${join(work, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(work, 'pglite'))}`,
        `policy: { allowlistDir: ${join(policy, 'allowlists')}, exceptionsDir: ${join(policy, 'exceptions')}, watchDebounce: 100ms }`,
        'views: { team-a: {} }',
        "sync: { schedule: '' }",
        "audit: { anchorSchedule: '' }",
        'auth:',
        '  tokens:',
        `    - { id: oid-auditor, token: ${AUDITOR}, roles: [auditor] }`,
        `    - { id: oid-admin, token: ${ADMIN}, roles: [admin] }`,
        '',
      ].join('\n'),
    );
    // The packages are in the catalog before the server starts (one writer on the PGlite folder).
    const imported = await cli(['--config', configPath, 'import', 'pypi', wheels]);
    expect(imported.code, imported.stderr).toBe(0);
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'policy: alpha; gamma for team-a');
    server = await serve();
  });

  afterAll(async () => {
    await stopServer();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('audits the policy files in force at start, each with its sha256, and a fingerprint of the set', async () => {
    const [start] = (await audit('policy.reloaded')).filter((r) => r.detail.trigger === 'start');
    expect(start, 'a policy.reloaded record at start').toBeDefined();
    const files = await digestsOnDisk();
    expect(Object.keys(files)).toEqual(['allowlists/pypi.yaml', 'exceptions/team-a.yaml']);
    expect(start!.detail.files).toEqual(files);
    expect(start!.subject).toBe(fingerprintOf(files));
    expect(await rootLists('default', 'alpha')).toBe(true);
    expect(await rootLists('team-a', 'gamma')).toBe(true);
    expect(await rootLists('default', 'gamma')).toBe(false);
    expect(await metric('safelist_policy_reloads_total{result="applied"}')).toBeGreaterThanOrEqual(1);
    expect(await metric('safelist_policy_last_reload_timestamp_seconds')).toBeGreaterThan(0);
  });

  it('serves an added package and a tightened version range without a restart', async () => {
    const pid = server!.child.pid;
    await saveByRename(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - alpha\n  - beta\n');
    await until(() => rootLists('default', 'beta'), 'beta to be listed after the edit');

    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - "alpha<2"\n  - beta\n');
    await until(
      async () => /alpha-2\.0-py3-none-any\.whl[^>]*data-yanked/.test((await page('/pypi/default/simple/alpha/')).body),
      'alpha 2.0 to be refused',
    );
    const alpha = (await page('/pypi/default/simple/alpha/')).body;
    expect(/<a [^>]*>alpha-1\.0-py3-none-any\.whl<\/a>/.exec(alpha)?.[0]).not.toContain('data-yanked');
    expect(server!.child.pid).toBe(pid);
    expect(server!.child.exitCode).toBeNull();

    const files = await digestsOnDisk();
    const records = await until(
      async () => (await audit('policy.reloaded')).filter((r) => r.subject === fingerprintOf(files)),
      'the tightened files to be audited',
    );
    expect(records).toHaveLength(1);
    expect(records[0]!.detail).toMatchObject({ trigger: 'watch', files });
  });

  it('keeps serving the last good policy when an edit is invalid, logs file:line, audits and counts it; a fix applies', async () => {
    const rejectedBefore = await metric('safelist_policy_reloads_total{result="rejected"}');
    expect(rejectedBefore).toBe(0);
    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - "alpha<2"\n  - beta\n  - "gamma>=>1"\n');
    await until(async () => (await metric('safelist_policy_reloads_total{result="rejected"}')) >= 1, 'the rejection to be counted');

    const [rejected] = await until(async () => {
      const r = await audit('policy.rejected');
      return r.length ? r : undefined;
    }, 'policy.rejected in the audit trail');
    expect(rejected!.detail.problems![0]).toMatchObject({ line: 4 });
    expect(rejected!.detail.problems![0]!.file).toMatch(/allowlists\/pypi\.yaml$/);
    expect(rejected!.detail.files!['allowlists/pypi.yaml']).toBe((await digestsOnDisk())['allowlists/pypi.yaml']);
    expect(rejected!.subject).toBe(rejected!.detail.problems![0]!.file);
    expect(server!.output()).toMatch(/allowlists\/pypi\.yaml:4: /);
    // The old policy still serves: beta listed, gamma not (its entry is the broken one).
    expect(await rootLists('default', 'beta')).toBe(true);
    expect(await rootLists('default', 'gamma')).toBe(false);
    // An admin asking for a reload is told what to fix (422, the problems), not a 500.
    const asked = await fetch(`${url}/api/v1/policy/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(asked.status).toBe(422);
    const problem = (await asked.json()) as { code?: string; problems: Array<{ line: number }> };
    expect(problem.problems[0]!.line).toBe(4);

    const appliedBefore = await metric('safelist_policy_reloads_total{result="applied"}');
    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - "alpha<2"\n  - "gamma>=1"\n');
    await until(() => rootLists('default', 'gamma'), 'the fixed policy to be served');
    expect(await rootLists('default', 'beta')).toBe(false);
    expect(await metric('safelist_policy_reloads_total{result="applied"}')).toBeGreaterThan(appliedBefore);
    const files = await digestsOnDisk();
    const [applied] = await until(async () => {
      const r = (await audit('policy.reloaded')).filter((x) => x.subject === fingerprintOf(files));
      return r.length ? r : undefined;
    }, 'the fixed files to be audited');
    expect(applied!.detail.files).toEqual(files);
  });

  it('follows a git checkout that replaces several files at once', async () => {
    await git('add', '-A');
    await git('commit', '-q', '-m', 'policy: alpha<2, gamma');
    await git('checkout', '-q', '-b', 'next');
    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - beta\n');
    await rm(join(policy, 'exceptions', 'team-a.yaml'));
    await writeFile(join(policy, 'exceptions', 'team-a-2.yaml'), EXCEPTION_TEAM_A.replace('gamma', 'alpha').replace('EXC-1', 'EXC-2'));
    await git('add', '-A');
    await git('commit', '-q', '-m', 'policy: beta; alpha for team-a');
    await until(async () => (await rootLists('default', 'beta')) && !(await rootLists('default', 'alpha')), 'the next branch to be served');

    await git('checkout', '-q', 'main');
    await until(async () => (await rootLists('default', 'gamma')) && !(await rootLists('default', 'beta')), 'main to be served again');
    expect(await rootLists('team-a', 'gamma')).toBe(true);
    const files = await digestsOnDisk();
    expect(Object.keys(files)).toEqual(['allowlists/pypi.yaml', 'exceptions/team-a.yaml']);
    const last = await until(
      async () => (await audit('policy.reloaded')).filter((r) => r.subject === fingerprintOf(files)).pop(),
      'main to be audited',
    );
    expect(last.detail.files).toEqual(files);
  });

  it('reloads on SIGHUP when watching is off, and audits the start of the new process', async () => {
    await stopServer();
    server = await serve({ SAFELIST_POLICY__WATCH: 'false' });
    expect((await audit('policy.reloaded')).filter((r) => r.detail.trigger === 'start')).toHaveLength(2);
    expect(await rootLists('default', 'beta')).toBe(false);

    await writeFile(join(policy, 'allowlists', 'pypi.yaml'), 'packages:\n  - "alpha<2"\n  - "gamma>=1"\n  - beta\n');
    server.child.kill('SIGHUP');
    await until(() => rootLists('default', 'beta'), 'beta to be served after SIGHUP');
    expect(server.child.exitCode).toBeNull();
    const files = await digestsOnDisk();
    const [record] = await until(async () => {
      const r = (await audit('policy.reloaded')).filter((x) => x.subject === fingerprintOf(files));
      return r.length ? r : undefined;
    }, 'the SIGHUP reload to be audited');
    expect(record!.detail.trigger).toBe('signal');
  });
});
