// Package read access by token: with auth.packageRead = token, pip installs only with a valid
// token in its index URL (sent as Basic auth), conda with it in the /t/<token>/ path prefix, and
// both are refused with 401 otherwise. A token reads only the views it is granted (read:): in
// another view pip and conda get a 403 that names the view and what to ask for.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const TOKEN = 'workspace-read-token-0123456789';
/** The team-a workspace's token: reads team-a and nothing else. */
const TEAM_A = 'team-a-read-token-0123456789';

describe('pip with package read tokens', () => {
  let sl: TestSafelist;
  let work: string;
  let wheel: BuiltWheel;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-pip-token-'));
    wheel = await buildWheel(join(work, 'dist'), { name: 'tok-pkg', version: '1.0' });
    sl = await startTestSafelist({
      views: { 'team-a': {}, 'team-b': {} },
      allowlist: 'packages:\n  - tok-pkg\n',
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
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
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('installs with the token in the index URL and refuses without it', async () => {
    const host = sl.url.replace('http://', '');
    sl.served.length = 0;
    const ok = await pipInstall({
      indexUrl: `http://pip:${TOKEN}@${host}/pypi/default/simple/`,
      requirements: ['tok-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(ok.code, ok.output).toBe(0);
    expect(sl.served.map((s) => s.filename)).toContain('tok_pkg-1.0-py3-none-any.whl');
    sl.served.length = 0;
    const bad = await pipInstall({
      indexUrl: `http://pip:wrong-token-value-xx@${host}/pypi/default/simple/`,
      requirements: ['tok-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(bad.code).not.toBe(0);
    // pip does not print the 401 of an index page at default verbosity; it finds nothing.
    expect(bad.output).toMatch(/from versions: none/);
    const res = await fetch(`${sl.url}/pypi/default/simple/tok-pkg/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/needs a token/);
    expect(sl.served).toEqual([]);
    expect((await fetch(`${sl.url}/healthz`)).status).toBe(200);
  });

  it('takes a conda token from the /t/<token>/ path prefix, as conda sends it', async () => {
    const path = '/conda/default/conda-forge/noarch/repodata.json';
    const ok = await fetch(`${sl.url}/t/${TOKEN}${path}`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { info: { subdir: string } }).info.subdir).toBe('noarch');
    expect((await fetch(`${sl.url}${path}`)).status).toBe(401);
    expect((await fetch(`${sl.url}/t/not-the-token-0123456789${path}`)).status).toBe(401);
  });

  it("installs from its own view with a workspace's token, and gets a 403 naming the view in another", async () => {
    const host = sl.url.replace('http://', '');
    sl.served.length = 0;
    const own = await pipInstall({
      indexUrl: `http://pip:${TEAM_A}@${host}/pypi/team-a/simple/`,
      requirements: ['tok-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(own.code, own.output).toBe(0);
    expect(sl.served.map((s) => [s.view, s.filename])).toContainEqual(['team-a', wheel.filename]);
    sl.served.length = 0;

    // The other view's file, as pip fetches it: pip prints the status line, which carries the reason.
    const file = `/pypi/default/files/${wheel.sha256}/${wheel.filename}`;
    const other = await pipInstall({
      indexUrl: `http://pip:${TEAM_A}@${host}/pypi/team-a/simple/`,
      requirements: [`http://pip:${TEAM_A}@${host}${file}`],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(other.code).not.toBe(0);
    expect(other.output).toMatch(/403 Client Error: Read not granted - ws-team-a may not read the packages of view "default"/);
    expect(other.output).toMatch(/add default to read: of token ws-team-a in auth\.tokens/);
    const index = await pipInstall({
      indexUrl: `http://pip:${TEAM_A}@${host}/pypi/team-b/simple/`,
      requirements: ['tok-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(index.code).not.toBe(0);
    expect(sl.served).toEqual([]);

    const basic = `Basic ${Buffer.from(`pip:${TEAM_A}`).toString('base64')}`;
    for (const path of ['/pypi/team-b/simple/tok-pkg/', '/pypi/default/simple/', file, '/pypi/nope/simple/']) {
      const res = await fetch(`${sl.url}${path}`, { headers: { authorization: basic } });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(res.headers.get('www-authenticate')).toBeNull();
      const body = (await res.json()) as { code: string; detail: string; view: string };
      expect(body.code).toBe('READ_NOT_GRANTED');
      expect(body.view).toBe(path.split('/')[2]);
      expect(body.detail).toMatch(/it reads: team-a/);
    }
    const ok = await fetch(`${sl.url}/pypi/team-a/simple/tok-pkg/`, { headers: { authorization: basic } });
    expect(ok.status).toBe(200);
    // An unknown token is still a 401, whichever view it asks for.
    const bad = `Basic ${Buffer.from('pip:not-a-token-0123456789').toString('base64')}`;
    expect((await fetch(`${sl.url}/pypi/team-a/simple/tok-pkg/`, { headers: { authorization: bad } })).status).toBe(401);
  });

  it("refuses conda a view its /t/<token>/ is not granted, in conda's problem text", async () => {
    const mine = await fetch(`${sl.url}/t/${TEAM_A}/conda/team-a/conda-forge/noarch/repodata.json`);
    expect(mine.status).toBe(200);
    const other = await fetch(`${sl.url}/t/${TEAM_A}/conda/default/conda-forge/noarch/repodata.json`);
    expect(other.status).toBe(403);
    expect(other.headers.get('content-type')).toBe('application/problem+json');
    expect(((await other.json()) as { detail: string }).detail).toMatch(/ws-team-a may not read the packages of view "default"/);
    // The path token wins over a header, as conda sends only the path.
    const viaPath = await fetch(`${sl.url}/t/${TEAM_A}/conda/default/conda-forge/noarch/repodata.json`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(viaPath.status).toBe(403);
  });
});
