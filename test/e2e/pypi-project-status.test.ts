// PEP 792 project status markers on the simple index: a project the view refuses as a whole, or
// whose every version it refuses, answers with status "quarantined", the policy's reason and
// where to ask, in both PEP 691 JSON and PEP 503 HTML, with no file, a strong ETag and 304s;
// real pip (isolated) installs nothing from it. Every page says repository version 1.4.
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const PUBLIC_URL = 'https://safelist.example.org';

interface JsonPage {
  meta: { 'api-version': string };
  name: string;
  'project-status'?: { status: string; reason?: string };
  versions: string[];
  files: Array<{ filename: string }>;
}

describe('PEP 792 project status on refused projects', () => {
  let sl: TestSafelist;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-status-'));
    const dist = join(work, 'dist');
    await buildWheel(dist, { name: 'ok-pkg', version: '1.0', modules: { ok_pkg: 'X = 1\n' } });
    await buildWheel(dist, { name: 'evil-pkg', version: '1.0', modules: { evil_pkg: 'X = 1\n' } });
    await buildWheel(dist, { name: 'pinned-pkg', version: '1.0', modules: { pinned_pkg: 'X = 1\n' } });
    await buildWheel(dist, { name: 'pinned-pkg', version: '2.0', modules: { pinned_pkg: 'X = 2\n' } });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - ok-pkg\n  - "pinned-pkg>=5"\n',
      extra: { server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl: `${PUBLIC_URL}/` } },
    });
    const report = await importPypiDir(dist, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    expect(report.skipped).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sl.url}${path}`, { headers, redirect: 'manual' });

  it('answers a project that is not on the allowlist with status quarantined, the reason and no file (JSON)', async () => {
    const res = await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(JSON_TYPE);
    const page = (await res.json()) as JsonPage;
    expect(page.meta['api-version']).toBe('1.4');
    expect(page.files).toEqual([]);
    expect(page.versions).toEqual([]);
    expect(page['project-status']?.status).toBe('quarantined');
    const reason = page['project-status']!.reason!;
    expect(reason).toContain('evil-pkg is blocked by Safelist policy in view default: it is not on the allowlist');
    expect(reason).toContain('safelist why evil-pkg --view default');
    expect(reason).toContain(`${PUBLIC_URL}/api/v1/exceptions`);
    expect(reason).not.toContain('//api');
  });

  it('says the same in PEP 503 HTML meta tags, with repository version 1.4 and no link', async () => {
    const res = await get('/pypi/default/simple/evil-pkg/', { accept: 'text/html' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<meta name="pypi:repository-version" content="1.4">');
    expect(html).toContain('<meta name="pypi:project-status" content="quarantined">');
    const reason = /<meta name="pypi:project-status-reason" content="([^"]*)">/.exec(html)?.[1];
    expect(reason).toContain('evil-pkg is blocked by Safelist policy in view default');
    expect(reason).toContain('safelist why evil-pkg --view default');
    expect(html).not.toContain('<a ');
  });

  it('quarantines a listed project whose every version the view refuses', async () => {
    const page = (await (await get('/pypi/default/simple/pinned-pkg/', { accept: JSON_TYPE })).json()) as JsonPage;
    expect(page['project-status']?.status).toBe('quarantined');
    expect(page['project-status']?.reason).toContain('allowed versions are >=5');
    expect(page['project-status']?.reason).toContain('no version of pinned-pkg is allowed in view default');
    expect(page.files).toEqual([]);
    const html = await (await get('/pypi/default/simple/pinned-pkg/', { accept: 'text/html' })).text();
    expect(html).toContain('<meta name="pypi:project-status" content="quarantined">');
    expect(html).toContain('allowed versions are &gt;=5');
    expect(html).not.toContain('<a ');
    // `safelist why` (the API behind it) says blocked with the same reason, not "not mirrored".
    const why = (await (await get('/api/v1/policy/why?name=pinned-pkg&view=default')).json()) as { status: string; message: string };
    expect(why.status).toBe('blocked');
    expect(why.message).toBe(page['project-status']?.reason);
  });

  it('gives an allowed project no status marker and repository version 1.4 on every page', async () => {
    const page = (await (await get('/pypi/default/simple/ok-pkg/', { accept: JSON_TYPE })).json()) as JsonPage;
    expect(page['project-status']).toBeUndefined();
    expect(page.files.map((f) => f.filename)).toEqual(['ok_pkg-1.0-py3-none-any.whl']);
    const html = await (await get('/pypi/default/simple/ok-pkg/', { accept: 'text/html' })).text();
    expect(html).not.toContain('pypi:project-status');
    const root = (await (await get('/pypi/default/simple/', { accept: JSON_TYPE })).json()) as JsonPage;
    expect(root.meta['api-version']).toBe('1.4');
    expect(await (await get('/pypi/default/simple/', { accept: 'text/html' })).text()).toContain(
      '<meta name="pypi:repository-version" content="1.4">',
    );
  });

  it('keeps a strong ETag and answers If-None-Match with 304 for the quarantine page, per format', async () => {
    const a = await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE });
    const etag = a.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(a.headers.get('cache-control')).toBe('no-cache');
    const again = await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE, 'if-none-match': etag });
    expect(again.status).toBe(304);
    const html = await get('/pypi/default/simple/evil-pkg/', { accept: 'text/html', 'if-none-match': etag });
    expect(html.status).toBe(200);
    expect(html.headers.get('etag')).not.toBe(etag);
    // The status follows policy: once allowed, the page lists the file and the old ETag no longer matches.
    await sl.setAllowlist('packages:\n  - ok-pkg\n  - "pinned-pkg>=5"\n  - evil-pkg\n');
    const open = await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE, 'if-none-match': etag });
    expect(open.status).toBe(200);
    const page = (await open.json()) as JsonPage;
    expect(page['project-status']).toBeUndefined();
    expect(page.files.map((f) => f.filename)).toEqual(['evil_pkg-1.0-py3-none-any.whl']);
    await sl.setAllowlist('packages:\n  - ok-pkg\n  - "pinned-pkg>=5"\n');
    const closed = (await (await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE })).json()) as JsonPage;
    expect(closed['project-status']?.status).toBe('quarantined');
  });

  it('counts a quarantine page as a refused request, and an allowed page not', async () => {
    const count = async () =>
      Number(/safelist_blocked_requests_total\{ecosystem="pypi"\} (\d+)/.exec(await (await get('/metrics')).text())?.[1] ?? 0);
    const before = await count();
    await get('/pypi/default/simple/evil-pkg/', { accept: JSON_TYPE });
    await get('/pypi/default/simple/ok-pkg/', { accept: JSON_TYPE });
    expect(await count()).toBe(before + 1);
  });

  it('still refuses the files of a quarantined project, and 404s a project nobody knows', async () => {
    const file = openedPypi(sl.runtime).catalog.project('evil-pkg')!.files[0]!;
    expect((await get(`/pypi/default/files/${file.sha256}/${file.filename}`)).status).toBe(403);
    expect((await get('/pypi/default/simple/never-heard-of/')).status).toBe(404);
  });

  it('real pip installs nothing from a quarantined project', async () => {
    for (const req of ['evil-pkg', 'pinned-pkg', 'pinned-pkg==1.0']) {
      const dir = await mkdtemp(join(work, 'target-'));
      sl.served.length = 0;
      const r = await pipInstall({ indexUrl: `${sl.url}/pypi/default/simple/`, requirements: [req], target: dir });
      expect(r.code, r.output).not.toBe(0);
      // pip 23.2.1 reads neither api-version nor project-status: it sees a project with no files.
      expect(r.output).toContain('from versions: none');
      expect(r.output).toContain(`No matching distribution found for ${req}`);
      expect(await readdir(dir)).toEqual([]);
      expect(sl.served).toEqual([]);
    }
  });
});
