// Package read access by token: with auth.packageRead = token, pip installs only with a valid
// token in its index URL (sent as Basic auth), conda with it in the /t/<token>/ path prefix, and
// both are refused with 401 otherwise.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const TOKEN = 'workspace-read-token-0123456789';

describe('pip with package read tokens', () => {
  let sl: TestSafelist;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-pip-token-'));
    await buildWheel(join(work, 'dist'), { name: 'tok-pkg', version: '1.0' });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - tok-pkg\n',
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
      extra: { auth: { packageRead: 'token', tokens: [{ id: 'ws-team-a', token: TOKEN, roles: ['pipeline'] }] } },
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
});
