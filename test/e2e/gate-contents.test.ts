// The curated-contents check end to end: images whose layers carry real Debian-shipped wheels
// (pip, wheel from /usr/share/python-wheels) unpacked into site-packages, pushed to a real
// docker-registry that notifies Safelist. The gate reads the layers back from the registry,
// finds each *.dist-info/METADATA (and a bare distutils *.egg-info file) and judges it against
// the workspace view: an image with only allowed distributions passes, one carrying a
// distribution the view does not allow fails (and is purged) with a rule that names the
// package, the file and the reason. npm packages in node_modules are judged the same way.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const WEBHOOK_TOKEN = 'registry-webhook-token-0123456789';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdefgh';
const AUDITOR_TOKEN = 'auditor-token-0123456789abcdef';
const MAL = 'MAL-2026-7001';
const WHEELS = '/usr/share/python-wheels';

/** Unpacks a real wheel as pip would into site-packages; returns its files for a layer. */
async function sitePackagesOf(wheel: string, work: string): Promise<Record<string, Buffer>> {
  const dir = await mkdtemp(join(work, 'wheel-'));
  await promisify(execFile)('python3', ['-m', 'zipfile', '-e', wheel, dir]);
  const files: Record<string, Buffer> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else files[`usr/lib/python3/dist-packages/${relative(dir, p)}`] = await readFile(p);
    }
  };
  await walk(dir);
  return files;
}

describe('gate: curated contents of an image', () => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;
  let work: string;
  const verdict = async (digest: string) => {
    const res = await fetch(`${sl.url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
    const body = (await res.json()) as Record<string, any>;
    return res.status === 200 && body.state !== 'pending' ? body : undefined;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-gate-contents-'));
    await mkdir(join(work, 'osv'));
    const port = await freePort();
    registry = await startRegistry({
      notify: [
        {
          name: 'safelist',
          url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/distribution`,
          headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` },
        },
      ],
    });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - pip\n  - demo-pkg\n',
      npmAllowlist: 'packages:\n  - left-pad@^1.3.0\n',
      extra: {
        advisories: { sources: [join(work, 'osv')], schedule: '' },
        server: { host: '127.0.0.1', port, logLevel: 'warn' },
        auth: {
          tokens: [
            { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
            { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] },
            { id: 'secops', token: ADMIN_TOKEN, roles: ['admin'] },
            { id: 'auditor', token: AUDITOR_TOKEN, roles: ['auditor'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: registry.url }],
          providers: ['contents'],
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
          contents: { views: [{ match: 'team/**', view: 'default' }] },
        },
      },
    });
    const wheels = await readdir(WHEELS);
    const pip = join(
      WHEELS,
      wheels.find((w) => w.startsWith('pip-'))!,
    );
    const wheel = join(
      WHEELS,
      wheels.find((w) => w.startsWith('wheel-'))!,
    );
    layout = await createLayout();
    await layout.image('allowed', await sitePackagesOf(pip, work));
    await layout.image('smuggled', await sitePackagesOf(wheel, work), { from: 'allowed' });
    // An old distutils install: one bare *.egg-info FILE of PKG-INFO headers, no wheel at all.
    await layout.image(
      'distutils',
      {
        'usr/local/lib/python3.11/dist-packages/Legacy_Tool-0.9-py3.11.egg-info':
          'Metadata-Version: 1.1\nName: legacy-tool\nVersion: 0.9.1\nSummary: installed by setup.py install\n',
      },
      { from: 'allowed' },
    );
    // Node.js apps on the allowed image: left-pad 1.3.0 is allowed; is-odd, nested under it, is not.
    const nodeApp = {
      'app/package.json': JSON.stringify({ name: 'my-app', version: '1.0.0', dependencies: { 'left-pad': '^1.3.0' } }),
      'app/node_modules/left-pad/package.json': JSON.stringify({ name: 'left-pad', version: '1.3.0', main: 'index.js' }),
      'app/node_modules/left-pad/index.js': 'module.exports = (s, n) => String(s).padStart(n);\n',
    };
    await layout.image('node-ok', nodeApp, { from: 'allowed' });
    await layout.image(
      'node',
      { ...nodeApp, 'app/node_modules/left-pad/node_modules/is-odd/package.json': JSON.stringify({ name: 'is-odd', version: '3.0.1' }) },
      { from: 'allowed' },
    );
    // demo-pkg 1.1, allowed today, installed as pip installs a wheel.
    await layout.image(
      'demo',
      {
        'usr/local/lib/python3.11/site-packages/demo_pkg-1.1.dist-info/METADATA':
          'Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.1\nSummary: fine until it was not\n',
      },
      { from: 'allowed' },
    );
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('passes an image whose Python distributions the view allows', async () => {
    const digest = await layout.push('allowed', registry.host, 'team/py:allowed');
    const v = await until(() => verdict(digest), 'the verdict');
    expect(v.state, JSON.stringify(v)).toBe('pass');
  });

  it('fails and purges an image carrying a distribution the view does not allow, naming it', async () => {
    const digest = await layout.push('smuggled', registry.host, 'team/py:smuggled');
    const v = await until(() => verdict(digest), 'the verdict');
    expect(v.state).toBe('fail');
    expect(v.verdict.failures).toHaveLength(1);
    expect(v.verdict.failures[0].finding).toMatchObject({
      id: expect.stringMatching(/^not-allowed:pypi:wheel==0\./),
      package: 'wheel',
      source: 'contents',
    });
    expect(v.verdict.failures[0].rule).toMatch(
      /^pypi wheel 0\.\S+ \(usr\/lib\/python3\/dist-packages\/wheel-0\.\S+\.dist-info\/METADATA\) is not allowed in view default: /,
    );
    await until(async () => (await verdict(digest))?.purged === 'purged', 'the purge');
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/py@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
  });

  it('fails an image whose distribution is only a bare *.egg-info file, named by its headers', async () => {
    const digest = await layout.push('distutils', registry.host, 'team/py:distutils');
    const v = await until(() => verdict(digest), 'the verdict');
    expect(v.state).toBe('fail');
    expect(v.verdict.failures.map((f: any) => f.rule)).toEqual([
      expect.stringMatching(
        /^pypi legacy-tool 0\.9\.1 \(usr\/local\/lib\/python3\.11\/dist-packages\/Legacy_Tool-0\.9-py3\.11\.egg-info\) is not allowed in view default: /,
      ),
    ]);
  });

  it('passes an image whose node_modules holds only npm packages the view allows', async () => {
    const digest = await layout.push('node-ok', registry.host, 'team/node:ok');
    const v = await until(() => verdict(digest), 'the verdict');
    expect(v.state, JSON.stringify(v)).toBe('pass');
  });

  it('fails an image whose node_modules holds an npm package the view does not allow, naming its package.json', async () => {
    const digest = await layout.push('node', registry.host, 'team/node:app');
    const v = await until(() => verdict(digest), 'the verdict');
    expect(v.state).toBe('fail');
    expect(v.verdict.failures.map((f: any) => [f.finding.id, f.rule])).toEqual([
      [
        'not-allowed:npm:is-odd==3.0.1',
        expect.stringMatching(
          /^npm is-odd 3\.0\.1 \(app\/node_modules\/left-pad\/node_modules\/is-odd\/package\.json\) is not allowed in view default: /,
        ),
      ],
    ]);
  });

  it('an image that passed with npm left-pad 1.3.0 is listed by the incident, then failed and purged once it is found malicious', async () => {
    const digest = await layout.push('node-ok', registry.host, 'team/node:incident');
    expect((await until(() => verdict(digest), 'the verdict')).state).toBe('pass');
    const incident = async () => {
      const res = await fetch(`${sl.url}/api/v1/incidents?ecosystem=npm&name=left-pad&version=1.3.0`, {
        headers: { authorization: `Bearer ${AUDITOR_TOKEN}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { images: Array<{ repository: string; digest: string; state: string; paths: string[] }> };
    };
    expect((await incident()).images).toContainEqual(
      expect.objectContaining({ repository: 'team/node', digest, state: 'pass', paths: ['app/node_modules/left-pad/package.json'] }),
    );
    await writeFile(
      join(work, 'osv', 'MAL-2026-7002.json'),
      JSON.stringify({
        id: 'MAL-2026-7002',
        modified: '2026-11-30T00:00:00Z',
        summary: 'Malicious code in left-pad (npm)',
        affected: [{ package: { ecosystem: 'npm', name: 'left-pad' }, versions: ['1.3.0'] }],
      }),
    );
    const res = await fetch(`${sl.url}/api/v1/jobs/advisories:import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as {
      outcome: { result: { rejudged: Array<{ digest: string }> } };
    };
    expect(last.outcome.result.rejudged).toContainEqual(expect.objectContaining({ digest }));
    const v = await until(async () => {
      const now = await verdict(digest);
      return now?.state === 'fail' && now.purged === 'purged' ? now : undefined;
    }, 'the second verdict and the purge');
    expect(v.verdict.failures[0].rule).toMatch(/npm left-pad 1\.3\.0 .* malicious-package advisory MAL-2026-7002/);
  });

  it('an image that passed with demo-pkg 1.1 is listed by the incident, then judged again and purged once 1.1 is found malicious', async () => {
    const digest = await layout.push('demo', registry.host, 'team/py:demo');
    expect((await until(() => verdict(digest), 'the verdict')).state).toBe('pass');
    const incident = async () => {
      const res = await fetch(`${sl.url}/api/v1/incidents?ecosystem=pypi&name=Demo_Pkg&version=1.1`, {
        headers: { authorization: `Bearer ${AUDITOR_TOKEN}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as {
        name: string;
        malware: string[];
        images: Array<{ repository: string; digest: string; state: string }>;
      };
    };
    expect(await incident()).toMatchObject({ name: 'demo-pkg', malware: [], images: [{ repository: 'team/py', digest, state: 'pass' }] });
    // Only auditors and admins may ask.
    const refused = await fetch(`${sl.url}/api/v1/incidents?name=demo-pkg&version=1.1`, {
      headers: { authorization: `Bearer ${PIPELINE_TOKEN}` },
    });
    expect(refused.status).toBe(403);

    await writeFile(
      join(work, 'osv', `${MAL}.json`),
      JSON.stringify({
        schema_version: '1.5.0',
        id: MAL,
        modified: '2026-11-30T00:00:00Z',
        summary: 'Malicious code in demo-pkg (PyPI)',
        affected: [{ package: { ecosystem: 'PyPI', name: 'demo-pkg' }, versions: ['1.1'] }],
      }),
    );
    const res = await fetch(`${sl.url}/api/v1/jobs/advisories:import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as {
      outcome: { status: string; result: Record<string, unknown> };
    };
    expect(last.outcome).toMatchObject({
      status: 'done',
      result: { malwareBlocked: [MAL], rejudged: [{ registry: 'local', repository: 'team/py', digest }] },
    });
    // The worker judges it again: the contents check now finds a package allowed in no view.
    const v = await until(async () => {
      const now = await verdict(digest);
      return now?.state === 'fail' && now.purged === 'purged' ? now : undefined;
    }, 'the second verdict and the purge');
    expect(v.verdict.failures[0].rule).toMatch(/pypi demo-pkg 1\.1 .* malicious-package advisory MAL-2026-7001/);
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/py@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
    expect(await incident()).toMatchObject({ malware: [MAL], images: [{ digest, state: 'fail' }] });
    const audit = await fetch(`${sl.url}/api/v1/audit?action=gate.requeued`, { headers: { authorization: `Bearer ${AUDITOR_TOKEN}` } });
    const records = ((await audit.json()) as { records: Array<{ subject: string; detail: { advisories?: string[] } }> }).records;
    expect(records.find((r) => r.subject.endsWith(`@${digest}`))?.detail.advisories).toEqual([MAL]);
  });
});
