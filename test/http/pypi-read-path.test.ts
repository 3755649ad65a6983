// The PyPI read path over real HTTP, on both storage back ends and both database modes:
// PGlite + local folder, and a PostgreSQL server + Azure Blob (Azurite).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, buildSdist } from '../support/wheels.js';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

/** A built wheel with the figures the assertions need. */
async function built(w: Awaited<ReturnType<typeof buildWheel>>) {
  const bytes = await readFile(w.path);
  return { ...w, bytes, size: bytes.length, metadataSha256: createHash('sha256').update(w.metadata).digest('hex') };
}

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

const MODES = [
  { name: 'pglite + local folder', db: 'pglite' as const, azure: false },
  { name: 'postgresql + azure blob (azurite)', db: 'pg' as const, azure: true },
];

describe.each(MODES)('PyPI read path on $name', (mode) => {
  let sl: TestSafelist;
  let azurite: Azurite | undefined;
  let wheels: Record<string, Awaited<ReturnType<typeof built>>> = {};

  beforeAll(async () => {
    if (mode.azure) azurite = await startAzurite();
    sl = await startTestSafelist({
      db: mode.db,
      ...(azurite ? { azure: { connectionString: azurite.connectionString, container: 'safelist-test' } } : {}),
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - "demo-pkg>=1.0,<2"\n  - other_thing\n  - "not-synced-yet>=3"\n',
      exceptions: {
        'a.yaml':
          'exceptions:\n  - { id: EXC-7, ecosystem: pypi, package: "demo-pkg==2.0", view: team-a, reason: needs 2.0 API, expires: 2099-12-31 }\n',
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-wheels-'));
    wheels = {
      v10: await built(await buildWheel(dir, { name: 'demo-pkg', version: '1.0', requiresPython: '>=3.8' })),
      v11: await built(await buildWheel(dir, { name: 'demo-pkg', version: '1.1', requiresPython: '>=3.8' })),
      v20: await built(await buildWheel(dir, { name: 'demo-pkg', version: '2.0', requiresPython: '>=3.9' })),
      other: await built(await buildWheel(dir, { name: 'Other.Thing', version: '0.1' })),
      blocked: await built(await buildWheel(dir, { name: 'not-allowed', version: '1.0' })),
    };
    await buildSdist(dir, { name: 'demo-pkg', version: '1.1', requiresPython: '>=3.8' });
    const report = await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    expect(report.skipped).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
    await azurite?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sl.url}${path}`, { headers, redirect: 'manual' });
  /** Sends the path byte for byte: fetch() would resolve "%2e%2e" and "../" before sending. */
  const rawGet = (path: string) =>
    new Promise<{ status: number; contentType: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(`${sl.url}/`, { path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, contentType: res.headers['content-type'], body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('serves PEP 691 JSON at API 1.4 with versions, size, upload-time, hashes and core-metadata', async () => {
    const res = await get('/pypi/default/simple/demo-pkg/', { accept: JSON_TYPE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const doc = (await res.json()) as { meta: Record<string, string>; versions: string[]; files: Array<Record<string, unknown>> };
    expect(doc.meta['api-version']).toBe('1.4');
    expect(doc.versions).toEqual(['1.0', '1.1', '2.0']);
    const f10 = doc.files.find((f) => f.filename === wheels.v10!.filename)!;
    expect(f10).toMatchObject({
      hashes: { sha256: wheels.v10!.sha256 },
      size: wheels.v10!.size,
      'requires-python': '>=3.8',
      yanked: false,
    });
    expect(f10['core-metadata']).toEqual({ sha256: wheels.v10!.metadataSha256 });
    expect(f10['upload-time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(f10).not.toHaveProperty('dist-info-metadata');
    // 2.0 is outside the allowlist in the default view: listed as yanked with the reason, no metadata.
    const f20 = doc.files.find((f) => f.filename === wheels.v20!.filename)!;
    expect(f20.yanked).toMatch(/demo-pkg 2\.0 is blocked by Safelist policy in view default: allowed versions are >=1\.0,<2/);
    expect(f20['core-metadata']).toBe(false);
  });

  it('serves PEP 503 HTML with repository-version, requires-python, both metadata attributes and yanked', async () => {
    const res = await get('/pypi/default/simple/demo-pkg/', { accept: 'text/html' });
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('<meta name="pypi:repository-version" content="1.4">');
    expect(html).toContain(
      `#sha256=${wheels.v10!.sha256}" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=${wheels.v10!.metadataSha256}" data-core-metadata="sha256=${wheels.v10!.metadataSha256}"`,
    );
    expect(html).toMatch(/data-yanked="demo-pkg 2\.0 is blocked by Safelist policy/);
    expect(html).toContain('demo_pkg-1.1.tar.gz');
  });

  it('negotiates by q-values, ?format= and answers 406 when nothing fits', async () => {
    const pip = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';
    expect((await get('/pypi/default/simple/demo-pkg/', { accept: pip })).headers.get('content-type')).toBe(JSON_TYPE);
    expect((await get('/pypi/default/simple/demo-pkg/', { accept: `${JSON_TYPE};q=0.1, text/html` })).headers.get('content-type')).toMatch(
      /^text\/html/,
    );
    expect(
      (await get('/pypi/default/simple/demo-pkg/', { accept: 'application/vnd.pypi.simple.latest+json' })).headers.get('content-type'),
    ).toBe(JSON_TYPE);
    expect((await get(`/pypi/default/simple/demo-pkg/?format=${encodeURIComponent(JSON_TYPE)}`)).headers.get('content-type')).toBe(
      JSON_TYPE,
    );
    const r406 = await get('/pypi/default/simple/demo-pkg/', { accept: 'image/png' });
    expect(r406.status).toBe(406);
    expect(r406.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 304 to a matching strong ETag and changes the ETag when policy changes', async () => {
    const first = await get('/pypi/team-a/simple/demo-pkg/', { accept: JSON_TYPE });
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await get('/pypi/team-a/simple/demo-pkg/', { accept: JSON_TYPE, 'if-none-match': etag });
    expect(again.status).toBe(304);
    // In team-a the exception makes 2.0 available.
    const doc = (await first.json()) as { files: Array<{ filename: string; yanked: unknown }> };
    expect(doc.files.find((f) => f.filename === wheels.v20!.filename)!.yanked).toBe(false);
    await sl.setAllowlist('packages:\n  - "demo-pkg>=1.1,<2"\n  - other_thing\n  - "not-synced-yet>=3"\n');
    const changed = await get('/pypi/team-a/simple/demo-pkg/', { accept: JSON_TYPE, 'if-none-match': etag });
    expect(changed.status).toBe(200);
    const d2 = (await changed.json()) as { files: Array<{ filename: string; yanked: unknown }> };
    expect(d2.files.find((f) => f.filename === wheels.v10!.filename)!.yanked).toMatch(/blocked/);
    await sl.setAllowlist('packages:\n  - "demo-pkg>=1.0,<2"\n  - other_thing\n  - "not-synced-yet>=3"\n');
  });

  it('serves gzip to clients that accept it, identical once decoded', async () => {
    const plain = await (await get('/pypi/default/simple/demo-pkg/', { accept: JSON_TYPE, 'accept-encoding': 'identity' })).text();
    const res = await get('/pypi/default/simple/demo-pkg/', { accept: JSON_TYPE, 'accept-encoding': 'gzip' });
    // fetch decodes transparently; the header proves it was compressed.
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toBe(plain);
  });

  it('redirects unnormalised names and missing slashes to the canonical URL', async () => {
    const res = await get('/pypi/default/simple/Other.Thing/');
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/pypi/default/simple/other-thing/');
    expect((await get('/pypi/default/simple/other-thing')).status).toBe(301);
    expect((await get('/pypi/default/simple')).status).toBe(301);
  });

  it('lists the projects a view may see on the root page', async () => {
    const html = await (await get('/pypi/default/simple/')).text();
    expect(html).toContain('href="demo-pkg/"');
    expect(html).toContain('href="other-thing/"');
    expect(html).not.toContain('not-allowed');
    const json = (await (await get('/pypi/default/simple/', { accept: JSON_TYPE })).json()) as { projects: Array<{ name: string }> };
    expect(json.projects.map((p) => p.name).sort()).toEqual(['Other.Thing', 'demo-pkg']);
  });

  it('serves files byte-exact with immutable caching, HEAD, Range and If-Range', async () => {
    const w = wheels.v10!;
    const url = `/pypi/default/files/${w.sha256}/${w.filename}`;
    const res = await get(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('etag')).toBe(`"${w.sha256}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(w.bytes)).toBe(true);
    const head = await fetch(`${sl.url}${url}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(w.size));
    const part = await get(url, { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${w.size}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(w.bytes.subarray(10, 20))).toBe(true);
    const stale = await get(url, { range: 'bytes=10-19', 'if-range': '"other"' });
    expect(stale.status).toBe(200);
    const tail = await get(url, { range: 'bytes=-5' });
    expect(Buffer.from(await tail.arrayBuffer()).equals(w.bytes.subarray(w.size - 5))).toBe(true);
    const bad = await get(url, { range: `bytes=${w.size + 10}-` });
    expect(bad.status).toBe(416);
  });

  it('never completes a download whose stored bytes are shorter or longer than recorded', async () => {
    const w = wheels.other!;
    const key = blobKeyForSha256(w.sha256);
    const url = `/pypi/default/files/${w.sha256}/${w.filename}`;
    try {
      for (const wrong of [w.bytes.subarray(0, w.size - 100), Buffer.concat([w.bytes, Buffer.from('trailing junk')])]) {
        await sl.runtime.store.put(key, wrong);
        // The connection is cut (before or after the headers), or the answer is an error: a
        // client never gets a 200 with a body it could take for the file.
        const outcome = await get(url)
          .then(async (res) =>
            res.status === 200
              ? await res.arrayBuffer().then(
                  () => 'complete 200',
                  () => 'cut off',
                )
              : `HTTP ${res.status}`,
          )
          .catch(() => 'cut off');
        expect(outcome).toMatch(/^(cut off|HTTP 5\d\d)$/);
      }
    } finally {
      await sl.runtime.store.put(key, w.bytes);
    }
    expect(Buffer.from(await (await get(url)).arrayBuffer()).equals(w.bytes)).toBe(true);
  });

  it('serves .metadata byte-identical to the METADATA inside the wheel', async () => {
    const w = wheels.v11!;
    const res = await get(`/pypi/default/files/${w.sha256}/${w.filename}.metadata`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(w.metadata)).toBe(true);
  });

  it('refuses files and metadata of versions the view does not allow, with a reason phrase and problem+json', async () => {
    const w = wheels.v20!;
    for (const suffix of ['', '.metadata']) {
      const res = await get(`/pypi/default/files/${w.sha256}/${w.filename}${suffix}`);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.statusText).toMatch(/^Blocked by Safelist policy - demo-pkg 2\.0 is blocked by Safelist policy in view default/);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        status: 403,
        title: 'Blocked by Safelist policy',
        code: 'BLOCKED_BY_POLICY',
        project: 'demo-pkg',
        version: '2.0',
      });
    }
    // The same file is fine in team-a, whose exception allows it.
    expect((await get(`/pypi/team-a/files/${w.sha256}/${w.filename}`)).status).toBe(200);
    // A project that is not allowed at all.
    const b = wheels.blocked!;
    expect((await get(`/pypi/default/files/${b.sha256}/${b.filename}`)).status).toBe(403);
    // Its page answers with the PEP 792 status "quarantined", the reason, and no file.
    const page = await get('/pypi/default/simple/not-allowed/', { accept: 'application/vnd.pypi.simple.v1+json' });
    expect(page.status).toBe(200);
    const status = (await page.json()) as { 'project-status': { status: string; reason: string }; files: unknown[] };
    expect(status['project-status'].status).toBe('quarantined');
    expect(status['project-status'].reason).toContain(
      'not-allowed is blocked by Safelist policy in view default: it is not on the allowlist',
    );
    expect(status.files).toEqual([]);
    const unknown = await get('/pypi/default/simple/never-heard-of/');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toContain('never-heard-of is not available in view default');
    // Allowlisted but not fetched by the sync yet: a 404 that says so, not a policy refusal.
    const pending = await get('/pypi/default/simple/not-synced-yet/');
    expect(pending.status).toBe(404);
    expect(((await pending.json()) as { detail: string }).detail).toContain(
      'not-synced-yet is allowed in view default but not mirrored yet',
    );
  });

  it('answers bad input with a clear 4xx and never reads outside storage', async () => {
    const w = wheels.v10!;
    const cases: Array<[string, number]> = [
      ['/pypi/nope/simple/demo-pkg/', 404],
      ['/pypi/default/simple/bad%20name!/', 400],
      [`/pypi/default/files/${w.sha256}/..%2F..%2Fetc%2Fpasswd`, 400],
      [`/pypi/default/files/${w.sha256}/%2e%2e`, 400],
      ['/pypi/default/files/../../../etc/passwd', 404],
      [`/pypi/default/files/${w.sha256.toUpperCase()}/${w.filename}`, 400],
      [`/pypi/default/files/${'0'.repeat(64)}/${w.filename}`, 404],
      [`/pypi/default/files/${w.sha256}/other-name-1.0-py3-none-any.whl`, 404],
      [`/pypi/default/simple/${'a'.repeat(500)}/`, 414],
      ['/api/v1/policy/check?ecosystem=pypi', 400],
    ];
    for (const [path, status] of cases) {
      const res = await rawGet(path);
      expect({ path, status: res.status }).toEqual({ path, status });
      expect(res.contentType).toBe('application/problem+json');
      const body = JSON.parse(res.body) as { detail: string };
      expect(body.detail.length).toBeGreaterThan(5);
    }
  });

  it('answers policy checks and explanations through the API', async () => {
    const res = await get('/api/v1/policy/check?ecosystem=pypi&name=Demo_Pkg&version=2.0&view=team-a');
    expect(await res.json()).toMatchObject({ allowed: true, name: 'demo-pkg', rule: { kind: 'exception', id: 'EXC-7' } });
    const why = (await (await get('/api/v1/policy/why?name=demo-pkg&view=default')).json()) as {
      status: string;
      available: string[];
      refused: Array<{ version: string }>;
    };
    expect(why.status).toBe('partly-allowed');
    expect(why.available).toEqual(['1.0', '1.1']);
    expect(why.refused.map((r) => r.version)).toEqual(['2.0']);
  });
});
