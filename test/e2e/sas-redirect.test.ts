// Large downloads redirected to short-lived SAS URLs of the blob store (storage.azure.
// redirectAbove): real pip follows the redirect to Azurite and installs; the URL is read-only
// and expires; ranges and HEAD are still answered by Safelist; policy is checked first.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('SAS redirects for large files', () => {
  let azurite: Azurite;
  let sl: TestSafelist;
  let work: string;
  let big: BuiltWheel;
  let blocked: BuiltWheel;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-sas-'));
    big = await buildWheel(join(work, 'dist'), {
      name: 'big-pkg',
      version: '1.0',
      modules: { big_pkg: `DATA = "${'x'.repeat(50_000)}"\n` },
    });
    blocked = await buildWheel(join(work, 'dist'), { name: 'big-pkg', version: '2.0' });
    azurite = await startAzurite();
    sl = await startTestSafelist({
      azure: { connectionString: azurite.connectionString, container: 'sas' },
      allowlist: 'packages:\n  - "big-pkg<2"\n',
      extra: {
        storage: {
          kind: 'azure',
          azure: { connectionString: azurite.connectionString, container: 'sas', redirectAbove: 1000, redirectTtl: '5m' },
        },
      },
    });
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
    await azurite?.stop();
  });

  it('redirects whole-file GETs to a read-only SAS URL, and keeps ranges and refusals on Safelist', async () => {
    const url = `${sl.url}/pypi/default/files/${big.sha256}/${big.filename}`;
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.port).toBe(String(azurite.port));
    expect(location.searchParams.get('sp')).toBe('r');
    expect(new Date(location.searchParams.get('se')!).getTime()).toBeLessThanOrEqual(Date.now() + 5 * 60_000 + 1000);
    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(Buffer.from(await direct.arrayBuffer()).length).toBe(
      (await sl.runtime.store.stat(`sha256/${big.sha256.slice(0, 2)}/${big.sha256}`))!.size,
    );
    // The SAS cannot write.
    expect((await fetch(location, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil' })).status).toBe(403);
    expect((await fetch(url, { headers: { range: 'bytes=0-9' } })).status).toBe(206);
    expect((await fetch(`${sl.url}/pypi/default/files/${blocked.sha256}/${blocked.filename}`, { redirect: 'manual' })).status).toBe(403);
  });

  it('lets real pip install through the redirect', async () => {
    const r = await pipInstall({
      indexUrl: `${sl.url}/pypi/default/simple/`,
      requirements: ['big-pkg'],
      target: await mkdtemp(join(work, 't-')),
    });
    expect(r.code, r.output).toBe(0);
  });
});
