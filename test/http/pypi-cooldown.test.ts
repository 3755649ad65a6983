// A view's cool-down over real HTTP: versions published less than the configured age ago are
// listed as yanked with the reason and their files refused; older ones and reviewed exceptions
// pass; without an upstream upload time the clock starts when Safelist first saw the file.
import { mkdtemp, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
type Page = { files: Array<{ filename: string; yanked?: string | boolean; 'upload-time'?: string }> };

describe('cool-down views', () => {
  let sl: TestSafelist;
  const w: Record<string, BuiltWheel> = {};

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-cooldown-'));
    w.old = await buildWheel(dir, { name: 'cool-pkg', version: '1.0' });
    w.fresh = await buildWheel(dir, { name: 'cool-pkg', version: '1.1' });
    w.reviewed = await buildWheel(dir, { name: 'cool-pkg', version: '1.2' });
    const longAgo = new Date('2023-05-01T00:00:00Z');
    await utimes(w.old.path, longAgo, longAgo);
    sl = await startTestSafelist({
      views: { cautious: { cooldown: '7d' } },
      allowlist: 'packages:\n  - cool-pkg\n',
      exceptions: {
        'r.yaml':
          'exceptions:\n  - { id: EXC-9, ecosystem: pypi, package: "cool-pkg==1.2", view: cautious, reason: reviewed build, expires: 2099-01-01 }\n',
      },
    });
    await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  const page = async (view: string) =>
    (await (await fetch(`${sl.url}/pypi/${view}/simple/cool-pkg/`, { headers: { accept: JSON_TYPE } })).json()) as Page;

  it('holds back versions younger than the cool-down in that view only', async () => {
    const cautious = await page('cautious');
    const byName = Object.fromEntries(cautious.files.map((f) => [f.filename, f]));
    expect(byName[w.old!.filename]!.yanked ?? false).toBe(false);
    expect(byName[w.fresh!.filename]!.yanked).toMatch(/held back by the cool-down of view cautious until 20\d\d-/);
    expect(byName[w.reviewed!.filename]!.yanked ?? false).toBe(false);
    const res = await fetch(`${sl.url}/pypi/cautious/files/${w.fresh!.sha256}/${w.fresh!.filename}`);
    expect(res.status).toBe(403);
    expect(res.statusText).toContain('cool-down');
    expect((await fetch(`${sl.url}/pypi/cautious/files/${w.old!.sha256}/${w.old!.filename}`)).status).toBe(200);
    const open = await page('default');
    expect(open.files.every((f) => !f.yanked)).toBe(true);
  });

  it('starts the clock when Safelist first saw a file whose upstream gave no upload time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-cooldown2-'));
    const nt = await buildWheel(dir, { name: 'cool-pkg', version: '1.3' });
    await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    await sl.runtime.db.query('UPDATE pypi_files SET upload_time = NULL WHERE sha256 = $1', [nt.sha256]);
    await openedPypi(sl.runtime).catalog.reload('cool-pkg');
    const f = (await page('cautious')).files.find((x) => x.filename === nt.filename)!;
    expect(f['upload-time']).toBeUndefined();
    expect(f.yanked).toMatch(/cool-down/);
  });
});
