// PEP 700 makes `size` mandatory in API 1.1 JSON pages. A file Safelist has not mirrored is
// listed (as yanked, when the view refuses its version) only with the size its upstream gave;
// from an upstream that gave none (PEP 503 HTML, here a static tree served by nginx) it is left
// out of the JSON and the HTML page alike, never listed with "size": 0. Once mirrored, its size
// is the stored bytes'.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startStaticIndex, type StaticIndex } from '../support/static-index.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

type JsonPage = { meta: { 'api-version': string }; files: Array<{ filename: string; size: number; yanked: boolean | string }> };

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

async function pages(sl: TestSafelist, project: string): Promise<{ json: JsonPage; htmlFiles: string[] }> {
  const url = `${sl.url}/pypi/default/simple/${project}/`;
  const json = (await (await fetch(url, { headers: { accept: JSON_TYPE } })).json()) as JsonPage;
  const html = await (await fetch(url, { headers: { accept: 'text/html' } })).text();
  return { json, htmlFiles: [...html.matchAll(/>([^<]+\.whl)<\/a>/g)].map((m) => m[1]!) };
}

describe('PEP 700 sizes on the JSON page', () => {
  let work: string;
  const built: Record<string, BuiltWheel & { size: number }> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-size-'));
    for (const v of ['1.0', '2.0']) {
      const w = await buildWheel(join(work, 'dist'), { name: 'size-pkg', version: v });
      built[v] = { ...w, size: (await stat(w.path)).size };
    }
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  describe('from a PEP 503 HTML upstream that gives no sizes', () => {
    let upstream: StaticIndex;
    let sl: TestSafelist;
    beforeAll(async () => {
      upstream = await startStaticIndex();
      await upstream.publish('size-pkg', Object.values(built));
      sl = await startTestSafelist({ allowlist: 'packages:\n  - "size-pkg<2"\n', upstreams: [{ name: 'files', url: upstream.url }] });
    });
    afterAll(async () => {
      await sl?.stop();
      await upstream?.stop();
    });

    it('leaves a refused, unmirrored file of unknown size out of both pages', async () => {
      const report = await sl.syncNow();
      expect(report?.failed).toEqual([]);
      const { json, htmlFiles } = await pages(sl, 'size-pkg');
      expect(json.meta['api-version']).toBe('1.4');
      expect(json.files.map((f) => [f.filename, f.size])).toEqual([[built['1.0']!.filename, built['1.0']!.size]]);
      expect(htmlFiles).toEqual([built['1.0']!.filename]);
    });

    it('lists the file with the size of its bytes once it is allowed and mirrored', async () => {
      await sl.setAllowlist('packages:\n  - size-pkg\n');
      await sl.syncNow();
      const { json, htmlFiles } = await pages(sl, 'size-pkg');
      expect(Object.fromEntries(json.files.map((f) => [f.filename, f.size]))).toEqual({
        [built['1.0']!.filename]: built['1.0']!.size,
        [built['2.0']!.filename]: built['2.0']!.size,
      });
      expect(htmlFiles.sort()).toEqual([built['1.0']!.filename, built['2.0']!.filename].sort());
    });
  });

  describe('from a PEP 691 JSON upstream that gives sizes', () => {
    let upstream: TestSafelist;
    let sl: TestSafelist;
    beforeAll(async () => {
      upstream = await startTestSafelist({ allowlist: 'packages:\n  - size-pkg\n' });
      await importPypiDir(join(work, 'dist'), { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
      sl = await startTestSafelist({
        allowlist: 'packages:\n  - "size-pkg<2"\n',
        upstreams: [{ name: 'central', url: `${upstream.url}/pypi/default/simple/` }],
      });
    });
    afterAll(async () => {
      await sl?.stop();
      await upstream?.stop();
    });

    it("lists a refused, unmirrored file as yanked with the upstream's size", async () => {
      await sl.syncNow();
      const { json, htmlFiles } = await pages(sl, 'size-pkg');
      const byName = Object.fromEntries(json.files.map((f) => [f.filename, f]));
      expect(byName[built['2.0']!.filename]).toMatchObject({ size: built['2.0']!.size, yanked: expect.stringMatching(/<2/) });
      expect(byName[built['1.0']!.filename]).toMatchObject({ size: built['1.0']!.size, yanked: false });
      expect(htmlFiles.sort()).toEqual(Object.keys(byName).sort());
    });
  });
});
