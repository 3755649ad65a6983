// The sync relays an upstream's PEP 792 project status: archived and deprecated are shown
// (files still served per policy), quarantined blocks the project (no file listed or served,
// even one mirrored before, whatever the allowlist says). Upstreams: nginx serving static
// PEP 691 JSON and PEP 503 HTML pages, and a second Safelist whose policy refuses a project.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { publishStatic } from '../../src/publish/static.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { startNginx, type NginxServer } from '../support/nginx-upstream.js';
import { pipInstall } from '../support/pip.js';
import { createPgDatabase } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

interface JsonPage {
  meta: { 'api-version': string };
  'project-status'?: { status: string; reason?: string };
  files: Array<{ filename: string; url: string; 'upload-time'?: string }>;
}

describe('relaying an upstream PEP 792 status', () => {
  let www: string;
  let work: string;
  let nginx: NginxServer;
  let sl: TestSafelist;
  const wheels: Record<string, BuiltWheel> = {};

  /** A PEP 691 JSON page on nginx for one project with its one wheel, and an optional status. */
  const jsonPage = async (project: string, status?: { status: string; reason?: string }) => {
    const w = wheels[project]!;
    const bytes = await readFile(w.path);
    const page = {
      meta: { 'api-version': '1.4' },
      name: project,
      ...(status ? { 'project-status': status } : {}),
      files: [
        {
          filename: w.filename,
          url: `../../packages/${w.filename}`,
          hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
          size: bytes.length,
          'upload-time': '2024-03-01T10:00:00.000000Z',
        },
      ],
    };
    await mkdir(join(www, 'simple', project), { recursive: true });
    await writeFile(join(www, 'simple', project, 'index.json'), JSON.stringify(page));
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-relay-'));
    www = await mkdtemp(join(tmpdir(), 'safelist-relay-www-'));
    await chmod(www, 0o755);
    await mkdir(join(www, 'packages'));
    for (const p of ['arch-pkg', 'depr-pkg', 'mal-pkg']) {
      wheels[p] = await buildWheel(join(work, 'dist'), { name: p, version: '1.0', modules: { [p.replace('-', '_')]: 'X = 1\n' } });
      await writeFile(join(www, 'packages', wheels[p]!.filename), await readFile(wheels[p]!.path));
    }
    await jsonPage('arch-pkg', { status: 'archived', reason: 'no longer maintained; use new-pkg' });
    await jsonPage('mal-pkg');
    // depr-pkg comes as PEP 503 HTML with the status in meta tags.
    const d = wheels['depr-pkg']!;
    const sha = createHash('sha256')
      .update(await readFile(d.path))
      .digest('hex');
    await mkdir(join(www, 'simple', 'depr-pkg'), { recursive: true });
    await writeFile(
      join(www, 'simple', 'depr-pkg', 'index.html'),
      `<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.4">
<meta name="pypi:project-status" content="deprecated"><meta name="pypi:project-status-reason" content="superseded by &lt;other&gt;"></head>
<body><a href="../../packages/${d.filename}#sha256=${sha}">${d.filename}</a></body></html>\n`,
    );
    nginx = await startNginx({ root: www, types: { json: JSON_TYPE }, serverExtra: 'index index.json index.html;' });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - arch-pkg\n  - depr-pkg\n  - mal-pkg\n',
      upstreams: [{ name: 'static', url: `${nginx.url}simple/` }],
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await nginx?.stop();
    await rm(www, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sl.url}${path}`, { headers, redirect: 'manual' });
  const page = async (project: string) => (await (await get(`/pypi/default/simple/${project}/`, { accept: JSON_TYPE })).json()) as JsonPage;
  const fileUrl = (project: string) => {
    const f = openedPypi(sl.runtime).catalog.project(project)!.files[0]!;
    return `/pypi/default/files/${f.sha256}/${f.filename}`;
  };

  it('shows archived (JSON upstream) and deprecated (HTML upstream) with the reason, and still serves the files', async () => {
    const report = await sl.syncNow();
    expect(report?.failed).toEqual([]);
    const arch = await page('arch-pkg');
    expect(arch['project-status']).toEqual({ status: 'archived', reason: 'no longer maintained; use new-pkg' });
    expect(arch.files.map((f) => f.filename)).toEqual([wheels['arch-pkg']!.filename]);
    // The upstream's original PEP 700 upload time is served as it was given (client-side cool-downs).
    expect(arch.files[0]!['upload-time']).toBe('2024-03-01T10:00:00.000000Z');
    expect((await get(fileUrl('arch-pkg'))).status).toBe(200);
    const html = await (await get('/pypi/default/simple/arch-pkg/', { accept: 'text/html' })).text();
    expect(html).toContain('<meta name="pypi:project-status" content="archived">');
    expect(html).toContain('<meta name="pypi:project-status-reason" content="no longer maintained; use new-pkg">');
    const depr = await page('depr-pkg');
    expect(depr['project-status']).toEqual({ status: 'deprecated', reason: 'superseded by <other>' });
    expect(depr.files.map((f) => f.filename)).toEqual([wheels['depr-pkg']!.filename]);
    expect((await get(fileUrl('depr-pkg'))).status).toBe(200);
    expect((await page('mal-pkg'))['project-status']).toBeUndefined();
    expect((await get(fileUrl('mal-pkg'))).status).toBe(200);
  });

  it('blocks a project quarantined upstream, even its files mirrored before, and reopens it when the upstream does', async () => {
    const before = await get('/pypi/default/simple/mal-pkg/', { accept: JSON_TYPE });
    const etag = before.headers.get('etag')!;
    await jsonPage('mal-pkg', { status: 'quarantined', reason: 'malware reported' });
    const report = await sl.syncNow();
    expect(report?.failed).toEqual([]);
    const res = await get('/pypi/default/simple/mal-pkg/', { accept: JSON_TYPE, 'if-none-match': etag });
    expect(res.status).toBe(200);
    const mal = (await res.json()) as JsonPage;
    expect(mal['project-status']?.status).toBe('quarantined');
    expect(mal['project-status']?.reason).toContain('mal-pkg is quarantined upstream (static): malware reported');
    expect(mal.files).toEqual([]);
    const file = await get(fileUrl('mal-pkg'));
    expect(file.status).toBe(403);
    expect(((await file.json()) as { detail: string }).detail).toContain('quarantined upstream');
    const why = (await (await get('/api/v1/policy/why?name=mal-pkg&view=default')).json()) as { status: string; message: string };
    expect(why.status).toBe('blocked');
    expect(why.message).toContain('mal-pkg is quarantined upstream (static): malware reported');
    const html = await (await get('/pypi/default/simple/mal-pkg/', { accept: 'text/html' })).text();
    expect(html).toContain('<meta name="pypi:project-status" content="quarantined">');
    expect(html).not.toContain('<a ');
    // A static publish carries the quarantine page and none of the project's files.
    const site = new FsBlobStore(await mkdtemp(join(work, 'site-')));
    await publishStatic(
      {
        policy: sl.runtime.policies.policy,
        ecosystems: sl.runtime.ecosystems,
        source: sl.runtime.store,
        target: site,
      },
      { views: ['default'] },
    );
    const keys: string[] = [];
    for await (const k of site.list('pypi/default/')) keys.push(k);
    expect(keys).toContain('pypi/default/simple/mal-pkg/index.html');
    expect(keys.filter((k) => k.endsWith(wheels['mal-pkg']!.filename))).toEqual([]);
    expect(keys.filter((k) => k.endsWith(wheels['arch-pkg']!.filename))).toHaveLength(1);
    sl.served.length = 0;
    const dir = await mkdtemp(join(work, 'target-'));
    const pip = await pipInstall({ indexUrl: `${sl.url}/pypi/default/simple/`, requirements: ['mal-pkg'], target: dir });
    expect(pip.code, pip.output).not.toBe(0);
    expect(pip.output).toContain('No matching distribution found for mal-pkg');
    expect(sl.served).toEqual([]);
    // The upstream lifts it: the next sync clears the status and the file is served again.
    await jsonPage('mal-pkg');
    await sl.syncNow();
    expect((await page('mal-pkg'))['project-status']).toBeUndefined();
    expect((await get(fileUrl('mal-pkg'))).status).toBe(200);
  });

  it('never fetches the files of a project quarantined upstream, even if the upstream still lists them', async () => {
    const fresh = await startTestSafelist({
      allowlist: 'packages:\n  - mal-pkg\n',
      upstreams: [{ name: 'static', url: `${nginx.url}simple/` }],
    });
    try {
      await jsonPage('mal-pkg', { status: 'quarantined' });
      const report = await fresh.syncNow();
      expect(report?.downloaded).toBe(0);
      expect(report?.plan.find((p) => p.project === 'mal-pkg')?.fetch).toEqual([]);
      expect(
        openedPypi(fresh.runtime)
          .catalog.project('mal-pkg')!
          .files.every((f) => !f.stored),
      ).toBe(true);
      const p = (await (await fetch(`${fresh.url}/pypi/default/simple/mal-pkg/`, { headers: { accept: JSON_TYPE } })).json()) as JsonPage;
      expect(p['project-status']).toEqual({
        status: 'quarantined',
        reason: 'mal-pkg is quarantined upstream (static); Safelist serves none of its files, whatever the allowlist says.',
      });
    } finally {
      await fresh.stop();
    }
  });

  it('reaches every replica on PostgreSQL without a restart, both ways', async () => {
    const db = await createPgDatabase();
    const opts = {
      databaseUrl: db.url,
      allowlist: 'packages:\n  - mal-pkg\n',
      upstreams: [{ name: 'static', url: `${nginx.url}simple/` }],
    };
    const a = await startTestSafelist(opts);
    const b = await startTestSafelist(opts);
    const status = async (r: TestSafelist) =>
      ((await (await fetch(`${r.url}/pypi/default/simple/mal-pkg/`, { headers: { accept: JSON_TYPE } })).json()) as JsonPage)[
        'project-status'
      ]?.status ?? 'active';
    try {
      await jsonPage('mal-pkg');
      await a.syncNow();
      await until(
        async () => ((await status(b)) === 'active' && openedPypi(b.runtime).catalog.project('mal-pkg') ? true : undefined),
        'replica b lists mal-pkg',
      );
      await jsonPage('mal-pkg', { status: 'quarantined', reason: 'malware reported' });
      await a.syncNow();
      await until(async () => ((await status(b)) === 'quarantined' ? true : undefined), 'replica b shows the quarantine');
      const f = openedPypi(b.runtime).catalog.project('mal-pkg')!.files[0]!;
      expect((await fetch(`${b.url}/pypi/default/files/${f.sha256}/${f.filename}`)).status).toBe(403);
      await jsonPage('mal-pkg');
      await a.syncNow();
      await until(async () => ((await status(b)) === 'active' ? true : undefined), 'replica b lifts the quarantine');
    } finally {
      await b.stop();
      await a.stop();
      await db.drop();
    }
  });

  it('relays a quarantine from an upstream Safelist whose policy refuses the project', async () => {
    const upstream = await startTestSafelist({ allowlist: 'packages:\n  - arch-pkg\n' });
    await importPypiDir(join(work, 'dist'), { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
    const down = await startTestSafelist({
      allowlist: 'packages:\n  - depr-pkg\n',
      upstreams: [{ name: 'central', url: `${upstream.url}/pypi/default/simple/` }],
    });
    try {
      const report = await down.syncNow();
      expect(report?.failed).toEqual([]);
      expect(report?.downloaded).toBe(0);
      const p = (await (await fetch(`${down.url}/pypi/default/simple/depr-pkg/`, { headers: { accept: JSON_TYPE } })).json()) as JsonPage;
      expect(p['project-status']?.status).toBe('quarantined');
      expect(p['project-status']?.reason).toContain(
        'depr-pkg is quarantined upstream (central): depr-pkg is blocked by Safelist policy in view default',
      );
      expect(p.files).toEqual([]);
    } finally {
      await down.stop();
      await upstream.stop();
    }
  });
});
