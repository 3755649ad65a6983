// OSV advisories in triage: imported from a folder and from a zip dump served over HTTP,
// matched by explicit versions and ECOSYSTEM ranges (introduced/fixed/last_affected) in PEP 440
// order, withdrawn ones ignored, and shown in the triage report of an exception request.
import { createServer } from 'node:http';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { affects, AdvisoryStore, type OsvRecord } from '../../src/exceptions/advisories.js';
import { openDb } from '../../src/state/db.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';

const osv = (id: string, affected: OsvRecord['affected'], extra: Partial<OsvRecord> = {}): OsvRecord => ({ id, modified: '2026-01-01T00:00:00Z', summary: `${id} summary`, affected, ...extra });
const range = (...events: Array<Record<string, string>>) => [{ type: 'ECOSYSTEM', events }];

describe('OSV advisories', () => {
  it('matches versions by explicit lists and ECOSYSTEM ranges in PEP 440 order', () => {
    const entry = { package: { ecosystem: 'PyPI', name: 'x' }, ranges: range({ introduced: '1.2' }, { fixed: '1.10' }, { introduced: '2.0rc1' }, { last_affected: '2.1' }) };
    expect(['1.1', '1.2', '1.9', '1.10', '1.11', '2.0', '2.1', '2.1.1'].filter((v) => affects(entry, v))).toEqual(['1.2', '1.9', '2.0', '2.1']);
    expect(affects({ ranges: range({ introduced: '0' }) }, '0.0.1')).toBe(true);
    expect(affects({ versions: ['3.0'] }, '3.0')).toBe(true);
  });

  it('imports from a folder and a zip over HTTP, and reports hits in triage', async () => {
    const work = await mkdtemp(join(tmpdir(), 'safelist-osv-'));
    const folder = join(work, 'osv');
    await mkdir(folder);
    await writeFile(join(folder, 'PYSEC-1.json'), JSON.stringify(osv('PYSEC-1', [{ package: { ecosystem: 'PyPI', name: 'Demo_Pkg' }, ranges: range({ introduced: '0' }, { fixed: '2.1' }) }], { aliases: ['CVE-2026-0001'] })));
    await writeFile(join(folder, 'GHSA-old.json'), JSON.stringify(osv('GHSA-old', [{ package: { ecosystem: 'PyPI', name: 'demo-pkg' }, versions: ['2.0'] }], { withdrawn: '2026-02-01T00:00:00Z' })));
    await writeFile(join(folder, 'npm.json'), JSON.stringify(osv('GHSA-npm', [{ package: { ecosystem: 'npm', name: 'demo-pkg' }, versions: ['2.0'] }])));
    await writeFile(join(folder, 'README.md'), 'not an advisory');
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(JSON.stringify(osv('PYSEC-2', [{ package: { ecosystem: 'PyPI', name: 'demo-pkg' }, versions: ['1.0'] }]))), 'PYSEC-2.json');
    zip.addBuffer(Buffer.from('{broken'), 'broken.json');
    zip.end();
    const zipBytes: Buffer[] = [];
    for await (const c of zip.outputStream) zipBytes.push(c as Buffer);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/zip' }).end(Buffer.concat(zipBytes)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const zipUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/PyPI/all.zip`;

    const db = await openDb({ pglitePath: 'memory://' });
    const store = new AdvisoryStore(db);
    expect(await store.importFrom(folder)).toEqual({ imported: 2, skipped: 1 });
    expect(await store.importFrom(zipUrl)).toEqual({ imported: 1, skipped: 0 });
    const hits = await store.hits('pypi', 'demo-pkg', ['1.0', '2.0', '2.1']);
    expect(hits.map((h) => [h.id, h.affects])).toEqual([['PYSEC-1', ['1.0', '2.0']], ['PYSEC-2', ['1.0']]]);
    expect(hits[0]).toMatchObject({ aliases: ['CVE-2026-0001'], fixed: ['2.1'] });
    await db.close();

    // Through a server configured with the folder: the triage report names the advisory.
    const dist = join(work, 'dist');
    await buildWheel(dist, { name: 'demo-pkg', version: '2.0' });
    const sl = await startTestSafelist({
      allowlist: 'packages:\n  - "demo-pkg<2"\n',
      extra: {
        advisories: { sources: [folder, zipUrl], schedule: '' },
        auth: { tokens: [{ id: 'oid-alice', token: 'alice-token-0123456789', roles: ['requester'] }] },
      },
    });
    try {
      await importPypiDir(dist, { store: sl.runtime.store, catalog: sl.runtime.pypiCatalog });
      for (let i = 0; i < 100 && (await sl.runtime.advisories.count()) < 3; i++) await new Promise((r) => setTimeout(r, 50));
      const res = await fetch(`${sl.url}/api/v1/exceptions`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice-token-0123456789', 'content-type': 'application/json' },
        body: JSON.stringify({ ecosystem: 'pypi', name: 'demo-pkg', versions: '==2.0', view: 'default', reason: 'needs the 2.0 API' }),
      });
      const body = (await res.json()) as { triage: { vulnerabilities: { checked: boolean; advisories: Array<{ id: string; affects: string[] }> } } };
      expect(res.status).toBe(201);
      expect(body.triage.vulnerabilities.checked).toBe(true);
      expect(body.triage.vulnerabilities.advisories.map((a) => [a.id, a.affects])).toEqual([['PYSEC-1', ['2.0']]]);
    } finally {
      await sl.stop();
      server.close();
    }
  });
});
