// Workspace onboarding: the generated pip.conf is used by real pip, with no other index
// option, and installs from Safelist; the .condarc points every named channel (and defaults)
// at Safelist with #!final; the .npmrc is read by real npm (registry, token from the environment,
// audit against Safelist's advisories) and refused, with npm printing why, in a view its token
// is not granted; the endpoint, the CLI (which writes no token that cannot read the view) and
// unknown views behave.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { snippetText, workspaceConfig } from '../../src/onboarding/workspace.js';
import { isolatedPipEnv, PYTHON } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { isolatedNpm, lockedProject } from '../support/npm-client.js';
import { cli } from '../support/cli.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('workspace onboarding', () => {
  let sl: TestSafelist;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-onboard-'));
    await buildWheel(join(work, 'dist'), { name: 'onb-pkg', version: '1.0' });
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - onb-pkg\n',
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
    });
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('serves the snippets for a view, and 404 for an unknown one', async () => {
    const res = await fetch(`${sl.url}/api/v1/workspaces/team-a/config`);
    expect(res.status).toBe(200);
    const o = (await res.json()) as { pipConf: string; condarc: string; azureMlEnvironment: string };
    expect(o.pipConf).toContain(`index-url = ${sl.url}/pypi/team-a/simple/`);
    expect(o.pipConf).not.toMatch(/^extra-index-url/m);
    expect((await fetch(`${sl.url}/api/v1/workspaces/nope/config`)).status).toBe(404);
  });

  it('gives a pip.conf that real pip uses to install from Safelist alone', async () => {
    const o = workspaceConfig(sl.config, 'team-a', sl.url);
    const conf = join(work, 'pip.conf');
    await writeFile(conf, snippetText(o, 'pipConf'));
    const target = await mkdtemp(join(work, 't-'));
    sl.served.length = 0;
    const code = await new Promise<number>((resolve) => {
      // Not --isolated: the point is that pip reads this file. Every other PIP_* is removed.
      const child = spawn(PYTHON, ['-m', 'pip', 'install', '--no-cache-dir', '--target', target, 'onb-pkg'], {
        env: { ...isolatedPipEnv(), PIP_CONFIG_FILE: conf },
        stdio: 'ignore',
      });
      child.on('close', (c) => resolve(c ?? -1));
    });
    expect(code).toBe(0);
    expect(sl.served.map((s) => [s.view, s.filename])).toContainEqual(['team-a', 'onb_pkg-1.0-py3-none-any.whl']);
  });

  it('gives a .condarc that sends every named channel and defaults through Safelist, locked with #!final', async () => {
    const o = workspaceConfig(sl.config, 'team-a', sl.url, 'tok-0123456789abcdef');
    expect(snippetText(o, 'condarc')).toMatch(/^channel_alias: .* #!final$/m);
    const rc = parse(snippetText(o, 'condarc')) as {
      channel_alias: string;
      default_channels: string[];
      allowlist_channels: string[];
      channels: string[];
    };
    expect(rc.channel_alias).toBe(`${sl.url}/t/tok-0123456789abcdef/conda/team-a`);
    expect(rc.channels).toEqual(['conda-forge']);
    expect(rc.default_channels).toEqual([`${rc.channel_alias}/conda-forge`]);
    expect(rc.allowlist_channels).toEqual(rc.default_channels);
    // What conda would fetch for `-c conda-forge` is a channel Safelist serves.
    const plain = workspaceConfig(sl.config, 'team-a', sl.url);
    const alias = (parse(snippetText(plain, 'condarc')) as { channel_alias: string }).channel_alias;
    expect((await fetch(`${alias}/conda-forge/noarch/repodata.json`)).status).toBe(200);
    expect(snippetText(o, 'pipConf')).toContain(
      `index-url = http://token:tok-0123456789abcdef@${new URL(sl.url).host}/pypi/team-a/simple/`,
    );
    expect(
      parse(
        o.azureMlEnvironment
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('\n'),
      ),
    ).toMatchObject({ name: 'safelist-team-a' });
  });

  it('gives an .npmrc that real npm uses: Safelist as the registry, audit on, the token from the environment', async () => {
    const TOKEN = 'ws-npm-token-0123456789';
    const TEAM_A = 'ws-npm-team-a-0123456789';
    const guarded = await startTestSafelist({
      views: { 'team-a': {} },
      extra: {
        auth: {
          packageRead: 'token',
          tokens: [
            { id: 'ws-default', token: TOKEN, roles: ['pipeline'], read: ['default'] },
            { id: 'ws-team-a', token: TEAM_A, read: ['team-a'] },
          ],
        },
      },
    });
    try {
      const advisories = await mkdtemp(join(work, 'osv-'));
      const affected = [{ package: { ecosystem: 'npm', name: 'onb-lib' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }];
      await writeFile(join(advisories, 'GHSA-onb.json'), JSON.stringify({ id: 'GHSA-onb', summary: 'onb-lib is unsafe', affected }));
      await guarded.runtime.advisories.importFrom(advisories);
      const o = workspaceConfig(guarded.config, 'default', guarded.url);
      const registry = `${guarded.url}/npm/default/`;
      // Without --with-token the file names the variable, never a secret.
      expect(
        snippetText(o, 'npmrc')
          .split('\n')
          .filter((l) => l && !l.startsWith('#')),
      ).toEqual([`registry=${registry}`, `${registry.replace(/^http:/, '')}:_authToken=\${SAFELIST_TOKEN}`, 'audit=true']);
      expect(snippetText(workspaceConfig(sl.config, 'team-a', sl.url), 'npmrc')).not.toMatch(/_authToken/);
      const project = await lockedProject(registry, { 'onb-lib': '1.0.0' });
      await writeFile(join(project, '.npmrc'), snippetText(o, 'npmrc'));
      // npm reads the project's .npmrc alone (no --registry): the advisory comes from Safelist, with the token.
      const npm = await isolatedNpm({ env: { SAFELIST_TOKEN: TOKEN } });
      const r = await npm.run(['audit', '--json'], project);
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ vulnerabilities: { 'onb-lib': { via: [{ source: 'GHSA-onb' }] } } });
      // A wrong token is refused, and npm says the audit failed rather than "no vulnerabilities".
      const wrong = await (await isolatedNpm({ env: { SAFELIST_TOKEN: 'not-the-token-0000' } })).run(['audit', '--json'], project);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stdout + wrong.stderr).toMatch(/audit endpoint returned an error|401/);
      // Another workspace's token is valid but not granted this view: npm prints the 403 and why.
      const other = await (await isolatedNpm({ env: { SAFELIST_TOKEN: TEAM_A } })).run(['view', 'onb-lib'], project);
      expect(other.code).not.toBe(0);
      expect(other.stderr).toMatch(/E403/);
      expect(other.stderr).toMatch(/ws-team-a may not read the packages of view "default" \(it reads: team-a\)/);
      // In its own view the same token is let through (npm ping answers).
      const own = await isolatedNpm({ registry: `${guarded.url}/npm/team-a/`, token: TEAM_A });
      const ping = await own.run(['ping'], project);
      expect(ping.code, ping.stderr).toBe(0);
    } finally {
      await guarded.stop();
    }
  });

  it('workspace config --with-token writes a token only for a view it may read', async () => {
    const env = {
      SAFELIST_VIEWS: JSON.stringify({ 'team-a': {}, 'team-b': {} }),
      SAFELIST_AUTH__PACKAGE_READ: 'token',
      SAFELIST_AUTH__TOKENS: JSON.stringify([{ id: 'ws-team-a', token: 'cli-team-a-token-0123456789', read: ['team-a'] }]),
    };
    const args = (view: string) => ['workspace', 'config', view, '--url', 'https://safelist.example', '--with-token'];
    const own = await cli(args('team-a'), { ...env, SAFELIST_TOKEN: 'cli-team-a-token-0123456789' });
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain('index-url = https://token:cli-team-a-token-0123456789@safelist.example/pypi/team-a/simple/');
    const other = await cli(args('team-b'), { ...env, SAFELIST_TOKEN: 'cli-team-a-token-0123456789' });
    expect(other.code).toBe(2);
    expect(other.stdout).toBe('');
    expect(other.stderr).toMatch(/SAFELIST_TOKEN \(ws-team-a\) may not read the packages of view "team-b"/);
    const unknown = await cli(args('team-a'), { ...env, SAFELIST_TOKEN: 'not-a-token-of-this-safelist' });
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/SAFELIST_TOKEN is not a token of this Safelist/);
  });
});
