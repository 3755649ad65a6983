// The `safelist` command as a user runs it, in a child process on one configuration file:
// config errors, allowlist lint with file and line, import, sync --dry-run and sync with
// progress against a real upstream (nginx serving PEP 503 pages), and why. Plus the server's cron schedule.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxUpstream, type NginxUpstream } from '../support/nginx-upstream.js';
import { startTestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { cli } from '../support/cli.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { seededPglite, seededPgliteYaml } from '../support/databases.js';

describe('safelist CLI', () => {
  let dir: string;
  let config: string;
  let upstream: NginxUpstream;
  const built: Record<string, BuiltWheel> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-cli-'));
    const packages = join(dir, 'upstream');
    for (const v of ['1.0', '2.0']) built[v] = await buildWheel(packages, { name: 'cli-pkg', version: v });
    upstream = await startNginxUpstream({ packagesDir: packages });
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - "cli-pkg<2"\n  - local-pkg\n');
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `pypi: { upstreams: [ { name: local, url: "${upstream.url}" } ] }`,
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  it('stops on a bad configuration value, naming the key, what is expected and where it came from', async () => {
    const r = await cli(['--config', config, 'allowlist', 'lint'], { SAFELIST_SERVER__PORT: 'eighty' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('server.port: a TCP port number from 0 to 65535 (from environment SAFELIST_SERVER__PORT)');
  });

  it('lints the policy files, reporting every bad entry with file and line', async () => {
    const bad = join(dir, 'bad-policy');
    await mkdir(join(bad, 'allowlists'), { recursive: true });
    await mkdir(join(bad, 'exceptions'));
    await writeFile(join(bad, 'allowlists', 'pypi.yaml'), 'packages:\n  - requests>=2\n  - "bad name!"\n  - numpy>=1,<<2\n');
    await writeFile(
      join(bad, 'exceptions', 'x.yaml'),
      'exceptions:\n  - { id: E1, ecosystem: pypi, package: "numpy==2.0", view: "*", reason: r }\n',
    );
    const r = await cli(['--config', config, 'allowlist', 'lint'], {
      SAFELIST_POLICY__ALLOWLIST_DIR: join(bad, 'allowlists'),
      SAFELIST_POLICY__EXCEPTIONS_DIR: join(bad, 'exceptions'),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/allowlists\/pypi\.yaml:3: "bad name!"/);
    expect(r.stdout).toMatch(/allowlists\/pypi\.yaml:4: ">=1,<<2" is not a PEP 440 version specifier/);
    expect(r.stdout).toMatch(/exceptions\/x\.yaml:2: .*expires/);
    const good = await cli(['--config', config, 'allowlist', 'lint']);
    expect(good.code, good.stdout + good.stderr).toBe(0);
  });

  it('imports wheels from a folder into storage', async () => {
    const local = join(dir, 'local');
    await buildWheel(local, { name: 'local-pkg', version: '0.3' });
    const r = await cli(['--config', config, 'import', 'pypi', local]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ imported: 1, skipped: 0 });
  });

  it('prints the sync plan on --dry-run, then syncs with progress', async () => {
    const plan = await cli(['--config', config, 'sync', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`+ ${built['1.0']!.filename}`);
    expect(plan.stdout).not.toContain(built['2.0']!.filename);
    const run = await cli(['--config', config, 'sync']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\[\d\/\d\] cli-pkg: 2 upstream file\(s\) on local, 1 to fetch/);
    expect(run.stderr).toContain(`stored  ${built['1.0']!.filename}`);
    expect(JSON.parse(run.stdout)).toMatchObject({ downloaded: 1, failed: 0 });
    const again = await cli(['--config', config, 'sync']);
    expect(JSON.parse(again.stdout)).toMatchObject({ downloaded: 0, failed: 0 });
  });

  it('explains what blocks a package and how to ask for it', async () => {
    const r = await cli(['--config', config, 'why', 'cli-pkg']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('pypi cli-pkg in view default: partly-allowed');
    expect(r.stdout).toMatch(/refused 2\.0: .*allowed versions are <2/);
    expect(r.stdout).toMatch(/to ask for it: /);
    const none = await cli(['--config', config, 'why', 'numpy']);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/not on the allowlist/);
  });
});

describe('safelist audit', () => {
  it('verifies the chain, exports JSON Lines, and exits 1 naming a tampered record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-cli-audit-'));
    const config = join(dir, 'safelist.yaml');
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        '',
      ].join('\n'),
    );
    const { openStateDb } = await import('../../src/ecosystems/index.js');
    const { AuditLog } = await import('../../src/audit/log.js');
    const { FsBlobStore } = await import('../../src/storage/fs.js');
    const db = await openStateDb(seededPglite(join(dir, 'state')));
    const log = new AuditLog(db, new FsBlobStore(join(dir, 'blobs')));
    for (const s of ['EXC-1', 'EXC-2', 'EXC-3'])
      await log.append({ actor: 'oid-alice', action: 'exception.requested', subject: s, detail: { reason: 'paper' } });
    await db.close();

    const ok = await cli(['--config', config, 'audit', 'verify']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('3 record(s)');
    expect(ok.stdout).toContain('audit log verified: intact');
    // The verification is audited (audit.verified, record 4), so the anchor covers it too.
    expect((await cli(['--config', config, 'audit', 'anchor'])).stdout).toMatch(/^anchored record 4 [0-9a-f]{64}/);
    const exported = await cli(['--config', config, 'audit', 'export', '--subject', 'EXC-2']);
    expect(
      exported.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { seq: number }),
    ).toEqual([expect.objectContaining({ seq: 2, actor: 'oid-alice' })]);

    const again = await openStateDb({ pglitePath: join(dir, 'state') });
    await again.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
    await again.query("UPDATE audit_log SET actor = 'oid-mallory' WHERE seq = 2");
    await again.close();
    const bad = await cli(['--config', config, 'audit', 'verify']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/BROKEN changed at record 2: record 2 \(exception\.requested EXC-2 by oid-mallory\) was changed/);
    expect(bad.stdout).toContain('audit log verification FAILED');
  });
});

describe('safelist exceptions (API client)', () => {
  it('requests, lists, approves as another identity, and exports YAML that lint accepts', async () => {
    const sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - "demo-pkg<2"\n',
      extra: {
        auth: {
          tokens: [
            { id: 'oid-alice', name: 'alice', token: 'alice-token-0123456789', roles: ['requester'] },
            { id: 'oid-bob', name: 'bob', token: 'bob-token-0123456789ab', roles: ['approver'], views: ['team-a'] },
          ],
        },
      },
    });
    try {
      const as = (token: string) => ({ SAFELIST_URL: sl.url, SAFELIST_TOKEN: token });
      const req = await cli(
        ['exceptions', 'request', 'pypi', 'demo-pkg', '==2.0', '--view', 'team-a', '--reason', 'needs the 2.0 API'],
        as('alice-token-0123456789'),
      );
      expect(req.code, req.stderr).toBe(0);
      const id = /^(EXC-\d+)\s+requested/.exec(req.stdout)?.[1];
      expect(id, req.stdout).toBeDefined();
      const self = await cli(['exceptions', 'approve', id!], as('alice-token-0123456789'));
      expect(self.code).toBe(1);
      expect(self.stderr).toMatch(/403 Forbidden/);
      const ok = await cli(['exceptions', 'approve', id!, '--note', 'ok'], as('bob-token-0123456789ab'));
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(new RegExp(`${id}\\s+active`));
      expect((await cli(['exceptions', 'list', '--state', 'active'], as('bob-token-0123456789ab'))).stdout).toContain(id!);
      const exported = await cli(['exceptions', 'export'], as('bob-token-0123456789ab'));
      expect(exported.code).toBe(0);
      await writeFile(join(sl.dir, 'exceptions', 'from-api.yaml'), exported.stdout);
      const { loadPolicyFiles } = await import('../../src/policy/load.js');
      const { grammars } = await import('../../src/ecosystems/index.js');
      const loaded = await loadPolicyFiles(sl.config.policy, { grammars, views: new Set(['default', 'team-a']) });
      expect(loaded.problems).toEqual([]);
      expect(loaded.rules.find((r) => r.id === id)).toMatchObject({ kind: 'exception', name: 'demo-pkg', view: 'team-a' });
      const anon = await cli(['exceptions', 'list'], { SAFELIST_URL: sl.url, SAFELIST_TOKEN: '' });
      expect(anon.code).toBe(1);
      expect(anon.stderr).toMatch(/401/);
    } finally {
      await sl.stop();
    }
  });
});

describe('scheduled sync in the server', () => {
  it('runs the sync on its node-cron schedule', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-cron-'));
    const w = await buildWheel(dir, { name: 'cron-pkg', version: '1.0' });
    const upstream = await startNginxUpstream({ packagesDir: dir });
    const sl = await startTestSafelist({
      allowlist: 'packages:\n  - cron-pkg\n',
      upstreams: [{ name: 'local', url: upstream.url }],
      extra: { sync: { schedule: '*/1 * * * * *', concurrency: 2, timeout: '30s' } },
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!openedPypi(sl.runtime).catalog.file(w.sha256)?.stored && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(openedPypi(sl.runtime).catalog.file(w.sha256)?.stored).toBe(true);
      const res = await fetch(`${sl.url}/pypi/default/files/${w.sha256}/${w.filename}`);
      expect(res.status).toBe(200);
    } finally {
      await sl.stop();
      await upstream.stop();
    }
  });
});
