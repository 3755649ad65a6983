// npm's surroundings end to end, with verdaccio as the upstream and the real npm CLI: an
// exception request for an npm package is triaged from what the sync recorded (versions,
// dependencies the view would still refuse, licence, advisories in semver order) and for names
// close to allowed ones; `why` explains npm names from the catalog; and `npm install` through
// Safelist followed by `npm audit` reports an imported advisory, with the fix Safelist offers.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriageReport } from '../../src/exceptions/triage.js';
import { isolatedNpm } from '../support/npm-client.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { startVerdaccio, type Verdaccio } from '../support/verdaccio.js';

const ADMIN = 'admin-token-npm-extras-0123456789';
const ALICE = 'alice-token-npm-extras-0123456789';

describe('npm: triage, why and audit through Safelist', () => {
  let verdaccio: Verdaccio;
  let sl: TestSafelist;
  let work: string;

  const api = (path: string, token: string, body?: unknown) =>
    fetch(`${sl.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-npm-extras-'));
    verdaccio = await startVerdaccio();
    for (const version of ['1.0.0', '1.2.0']) await verdaccio.publish({ name: 'demo-lib', version });
    await verdaccio.publish({ name: 'helper-lib', version: '1.0.0' });
    await verdaccio.publish({ name: 'wanted-app', version: '1.0.0', dependencies: { 'helper-lib': '^1.0.0', 'demo-lib': '^1.0.0' } });
    await mkdir(join(work, 'osv'));
    const semver = (events: Array<Record<string, string>>) => [{ type: 'SEMVER', events }];
    const advisories = [
      {
        id: 'GHSA-demo-lib-1',
        summary: 'demo-lib leaks secrets',
        affected: [{ package: { ecosystem: 'npm', name: 'demo-lib' }, ranges: semver([{ introduced: '0' }, { fixed: '1.2.0' }]) }],
        database_specific: { severity: 'HIGH' },
      },
      {
        id: 'GHSA-wanted-1',
        summary: 'wanted-app runs code',
        affected: [
          { package: { ecosystem: 'npm', name: 'wanted-app' }, ranges: semver([{ introduced: '0.5.0' }, { last_affected: '1.0.0' }]) },
        ],
      },
    ];
    for (const a of advisories) await writeFile(join(work, 'osv', `${a.id}.json`), JSON.stringify(a));
    sl = await startTestSafelist({
      // wanted-app is named for 2.x only: the sync records its packument, and 1.0.0 stays refused.
      npmAllowlist: 'packages:\n  - demo-lib\n  - wanted-app@^2.0.0\n',
      extra: {
        npm: { upstreams: [{ name: 'verdaccio', url: `${verdaccio.url}/` }] },
        advisories: { sources: [join(work, 'osv')], schedule: '' },
        auth: {
          tokens: [
            { id: 'oid-admin', token: ADMIN, roles: ['admin'] },
            { id: 'oid-alice', token: ALICE, roles: ['requester'] },
          ],
        },
      },
    });
    expect(await sl.runtime.advisories.importFrom(join(work, 'osv'))).toMatchObject({ imported: 2, problems: [] });
    const res = await api('/api/v1/jobs/sync', ADMIN, { ecosystem: 'npm' });
    expect(res.status).toBe(200);
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as { outcome: { status: string } };
    expect(last.outcome.status).toBe('done');
  }, 240_000);

  afterAll(async () => {
    await sl?.stop();
    await verdaccio?.stop();
  });

  const request = async (name: string, versions: string) => {
    const res = await api('/api/v1/exceptions', ALICE, {
      ecosystem: 'npm',
      name,
      versions,
      view: 'default',
      reason: 'needed for the pipeline',
    });
    const body = (await res.json()) as { triage: TriageReport };
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body.triage;
  };

  it('triages a request from the recorded packument: versions, refused dependencies, licence, advisories', async () => {
    const t = await request('wanted-app', '1.0.0');
    expect(t.upstream).toMatchObject({ known: true, versions: ['1.0.0'], matching: ['1.0.0'] });
    expect(t.licence).toBe('MIT');
    // demo-lib is allowed in the view; helper-lib is not, so one request could cover both.
    expect(t.dependencies).toMatchObject({ checked: true, notAllowed: [{ requirement: 'helper-lib@^1.0.0', name: 'helper-lib' }] });
    expect(t.vulnerabilities).toMatchObject({ checked: true, advisories: [{ id: 'GHSA-wanted-1', affects: ['1.0.0'] }] });
  });

  it('names allowed packages close to a requested name (typosquats)', async () => {
    const t = await request('demo-lid', '1.0.0');
    expect(t.similarNames).toEqual([{ name: 'demo-lib', distance: 1 }]);
    // The same name under another scope is the closest of all.
    expect((await request('@someone/demo-lib', '1.0.0')).similarNames).toEqual([{ name: 'demo-lib', distance: 0 }]);
    expect(t.upstream).toMatchObject({ known: false, note: expect.stringMatching(/has not seen this package upstream/) });
  });

  it('explains npm names in `why`: offered versions, refused ones with the reason', async () => {
    const why = async (name: string) =>
      (await (await fetch(`${sl.url}/api/v1/policy/why?ecosystem=npm&name=${encodeURIComponent(name)}&view=default`)).json()) as {
        status: string;
        available: string[];
        refused: Array<{ version: string; reason: string }>;
      };
    expect(await why('demo-lib')).toMatchObject({ status: 'allowed', available: ['1.0.0', '1.2.0'], refused: [] });
    const wanted = await why('wanted-app');
    expect(wanted.status).toBe('not-mirrored');
    expect(wanted.refused).toEqual([{ version: '1.0.0', reason: expect.stringMatching(/\S/) }]);
    expect((await why('helper-lib')).status).toBe('blocked');
  });

  it('npm install through Safelist, then npm audit reports the imported advisory and the fix Safelist offers', async () => {
    const project = await mkdtemp(join(work, 'ws-'));
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'ws', version: '1.0.0' }));
    const npm = await isolatedNpm({ registry: `${sl.url}/npm/default/` });
    const install = await npm.run(['install', 'demo-lib@1.0.0', '--no-audit'], project);
    expect(install.code, install.stderr).toBe(0);
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved: string }>;
    };
    expect(lock.packages['node_modules/demo-lib']!.resolved).toBe(`${sl.url}/npm/default/demo-lib/-/demo-lib-1.0.0.tgz`);
    const audit = await npm.run(['audit', '--json'], project);
    expect(audit.code, audit.stderr).toBe(1);
    const report = JSON.parse(audit.stdout) as { vulnerabilities: Record<string, unknown> };
    expect(report.vulnerabilities['demo-lib']).toMatchObject({
      severity: 'high',
      // npm applies the advisory's range to the packument Safelist serves (1.0.0 and 1.2.0): only 1.0.0 is affected.
      range: '1.0.0',
      via: [{ source: 'GHSA-demo-lib-1', title: 'demo-lib leaks secrets', range: '>=0.0.0-0 <1.2.0' }],
      // The packument Safelist serves offers 1.2.0: npm knows the fix is there.
      fixAvailable: true,
    });
  });
});
