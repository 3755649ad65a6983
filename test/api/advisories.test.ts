// OSV advisories in triage: imported from a folder and from a zip dump served over HTTP,
// matched by explicit versions and ECOSYSTEM ranges (introduced/fixed/last_affected) in PEP 440
// order, withdrawn ones ignored, and shown in the triage report of an exception request.
// Malicious-package (MAL-) records: bad files reported by path and skipped, the rest imported;
// their rules refuse what they match above every allowlist rule and exception; and the CLI
// a platform team runs says which files it skipped.
import { createServer } from 'node:http';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Policy } from '../../src/policy/decide.js';
import { grammars, openStateDb } from '../../src/ecosystems/index.js';
import type { Rule } from '../../src/policy/types.js';
import { cli } from '../support/cli.js';
import yazl from 'yazl';
import { affects, AdvisoryStore, type OsvRecord } from '../../src/exceptions/advisories.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import { seededPglite, seededPgliteYaml } from '../support/databases.js';

const osv = (id: string, affected: OsvRecord['affected'], extra: Partial<OsvRecord> = {}): OsvRecord => ({
  id,
  modified: '2026-01-01T00:00:00Z',
  summary: `${id} summary`,
  affected,
  ...extra,
});
const range = (...events: Array<Record<string, string>>) => [{ type: 'ECOSYSTEM', events }];

describe('OSV advisories', () => {
  it('matches versions by explicit lists and ECOSYSTEM ranges in PEP 440 order', () => {
    const entry = {
      package: { ecosystem: 'PyPI', name: 'x' },
      ranges: range({ introduced: '1.2' }, { fixed: '1.10' }, { introduced: '2.0rc1' }, { last_affected: '2.1' }),
    };
    expect(['1.1', '1.2', '1.9', '1.10', '1.11', '2.0', '2.1', '2.1.1'].filter((v) => affects(entry, v))).toEqual([
      '1.2',
      '1.9',
      '2.0',
      '2.1',
    ]);
    expect(affects({ ranges: range({ introduced: '0' }) }, '0.0.1')).toBe(true);
    expect(affects({ versions: ['3.0'] }, '3.0')).toBe(true);
  });

  it('fails closed on versions PEP 440 cannot read: those named block as written, ranges they bound stay open', () => {
    const listed = { versions: ['1.0-custom_build', '2.0'] };
    expect(['1.0-custom_build', '1.0-CUSTOM_build', '2.0.0', '1.0', '2.1'].filter((v) => affects(listed, v))).toEqual([
      '1.0-custom_build',
      '1.0-CUSTOM_build',
      '2.0.0',
    ]);
    // An unreadable start: the range starts at 0; the exact version it names is affected too.
    const start = { ranges: range({ introduced: 'beta_0.9' }, { fixed: '1.5' }) };
    expect(['beta_0.9', '0.1', '1.2', '1.5', '2.0'].filter((v) => affects(start, v))).toEqual(['beta_0.9', '0.1', '1.2']);
    // An unreadable end does not end the range.
    const end = { ranges: range({ introduced: '1.0' }, { fixed: 'release_2' }) };
    expect(['0.9', '1.0', '3.0'].filter((v) => affects(end, v))).toEqual(['1.0', '3.0']);
    // A last_affected PEP 440 cannot read is itself affected; a version that cannot be ordered is inside a range.
    const last = { ranges: range({ introduced: '1.0' }, { last_affected: 'weird_1' }, { fixed: '1.1' }) };
    expect(affects(last, 'WEIRD_1')).toBe(true);
    expect(affects(last, 'no-order!')).toBe(true);
    expect(affects({ versions: ['1.0'] }, 'no-order!')).toBe(false);
  });

  it('a MAL- record naming versions PEP 440 cannot read blocks exactly those versions', async () => {
    const work = await mkdtemp(join(tmpdir(), 'safelist-adv-loose-'));
    await writeFile(
      join(work, 'MAL-2026-9.json'),
      JSON.stringify(osv('MAL-2026-9', [{ package: { ecosystem: 'PyPI', name: 'Evil_Pkg' }, versions: ['1.0-evil_build'] }])),
    );
    const db = await openStateDb(seededPglite());
    try {
      expect(await new AdvisoryStore(db).importFrom(work)).toMatchObject({ imported: 1, skipped: 0, malware: ['MAL-2026-9'] });
      const rules = await new AdvisoryStore(db).malwareRules();
      expect(rules.map((r) => [r.name, r.id])).toEqual([['evil-pkg', 'MAL-2026-9']]);
      expect(rules[0]!.matcher.matches('1.0-EVIL_build')).toBe(true);
      expect(rules[0]!.matcher.matches('1.0')).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('imports from a folder and a zip over HTTP, and reports hits in triage', async () => {
    const work = await mkdtemp(join(tmpdir(), 'safelist-osv-'));
    const folder = join(work, 'osv');
    await mkdir(folder);
    await writeFile(
      join(folder, 'PYSEC-1.json'),
      JSON.stringify(
        osv('PYSEC-1', [{ package: { ecosystem: 'PyPI', name: 'Demo_Pkg' }, ranges: range({ introduced: '0' }, { fixed: '2.1' }) }], {
          aliases: ['CVE-2026-0001'],
        }),
      ),
    );
    await writeFile(
      join(folder, 'GHSA-old.json'),
      JSON.stringify(
        osv('GHSA-old', [{ package: { ecosystem: 'PyPI', name: 'demo-pkg' }, versions: ['2.0'] }], { withdrawn: '2026-02-01T00:00:00Z' }),
      ),
    );
    await writeFile(
      join(folder, 'npm.json'),
      JSON.stringify(osv('GHSA-npm', [{ package: { ecosystem: 'npm', name: 'demo-pkg' }, versions: ['2.0'] }])),
    );
    await writeFile(join(folder, 'README.md'), 'not an advisory');
    const zip = new yazl.ZipFile();
    zip.addBuffer(
      Buffer.from(JSON.stringify(osv('PYSEC-2', [{ package: { ecosystem: 'PyPI', name: 'demo-pkg' }, versions: ['1.0'] }]))),
      'PYSEC-2.json',
    );
    zip.addBuffer(Buffer.from('{broken'), 'broken.json');
    zip.end();
    const zipBytes: Buffer[] = [];
    for await (const c of zip.outputStream) zipBytes.push(c as Buffer);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/zip' }).end(Buffer.concat(zipBytes)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const zipUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/PyPI/all.zip`;

    const db = await openStateDb(seededPglite());
    const store = new AdvisoryStore(db);
    // npm records are kept too (MAL- records name npm packages), though no npm index uses them yet.
    expect(await store.importFrom(folder)).toEqual({ imported: 3, skipped: 0, problems: [], malware: [], malwareChanged: false });
    const fromZip = await store.importFrom(zipUrl);
    expect(fromZip).toMatchObject({ imported: 1, skipped: 0, malware: [] });
    expect(fromZip.problems).toEqual([{ path: `${zipUrl}!broken.json`, message: expect.stringMatching(/^not valid JSON/) }]);
    const hits = await store.hits('pypi', 'demo-pkg', ['1.0', '2.0', '2.1']);
    expect(hits.map((h) => [h.id, h.affects])).toEqual([
      ['PYSEC-1', ['1.0', '2.0']],
      ['PYSEC-2', ['1.0']],
    ]);
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
      await importPypiDir(dist, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
      for (let i = 0; i < 100 && (await sl.runtime.advisories.count()) < 3; i++) await new Promise((r) => setTimeout(r, 50));
      const res = await fetch(`${sl.url}/api/v1/exceptions`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice-token-0123456789', 'content-type': 'application/json' },
        body: JSON.stringify({ ecosystem: 'pypi', name: 'demo-pkg', versions: '==2.0', view: 'default', reason: 'needs the 2.0 API' }),
      });
      const body = (await res.json()) as {
        triage: { vulnerabilities: { checked: boolean; advisories: Array<{ id: string; affects: string[] }> } };
      };
      expect(res.status).toBe(201);
      expect(body.triage.vulnerabilities.checked).toBe(true);
      expect(body.triage.vulnerabilities.advisories.map((a) => [a.id, a.affects])).toEqual([['PYSEC-1', ['2.0']]]);
    } finally {
      await sl.stop();
      server.close();
    }
  });

  it('reports malformed, oversized and unstorable advisory files by path, skips them and imports the rest', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'safelist-mal-'));
    await mkdir(join(folder, 'osv', 'malicious', 'pypi', 'evil-pkg'), { recursive: true });
    const good = join(folder, 'osv', 'malicious', 'pypi', 'evil-pkg', 'MAL-2026-1.json');
    await writeFile(good, JSON.stringify(osv('MAL-2026-1', [{ package: { ecosystem: 'PyPI', name: 'Evil_Pkg' }, versions: ['1.0'] }])));
    await writeFile(join(folder, 'broken.json'), '{"id": "MAL-2026-2", "affected": [');
    await writeFile(
      join(folder, 'big.json'),
      JSON.stringify(osv('MAL-2026-3', [{ package: { ecosystem: 'PyPI', name: 'big' } }], { details: 'x'.repeat(3000) })),
    );
    await writeFile(
      join(folder, 'shape.json'),
      JSON.stringify({ id: 'MAL-2026-4', affected: [{ package: { ecosystem: 'PyPI', name: 'shape' }, versions: '1.0' }] }),
    );
    await writeFile(
      join(folder, 'nul.json'),
      JSON.stringify(osv('MAL-2026-5', [{ package: { ecosystem: 'PyPI', name: 'nul' }, versions: ['1.0'] }], { summary: 'a\u0000b' })),
    );
    const zip = new yazl.ZipFile();
    zip.addBuffer(
      Buffer.from(
        JSON.stringify(osv('MAL-2026-6', [{ package: { ecosystem: 'npm', name: 'evil-js' }, ranges: range({ introduced: '0' }) }])),
      ),
      'npm/MAL-2026-6.json',
    );
    zip.addBuffer(Buffer.alloc(5000, 0x20), 'huge.json');
    zip.end();
    const zipBytes: Buffer[] = [];
    for await (const c of zip.outputStream) zipBytes.push(c as Buffer);
    await writeFile(join(folder, 'dump.zip'), Buffer.concat(zipBytes));

    const db = await openStateDb(seededPglite());
    const store = new AdvisoryStore(db, 2048);
    const r = await store.importFrom(folder);
    expect(r).toMatchObject({ imported: 1, skipped: 0, malware: ['MAL-2026-1'], malwareChanged: true });
    expect(r.problems.map((p) => p.path)).toEqual([
      join(folder, 'big.json'),
      join(folder, 'broken.json'),
      join(folder, 'nul.json'),
      join(folder, 'shape.json'),
    ]);
    expect(r.problems[0]!.message).toMatch(/more than the 2048 bytes an advisory may have \(advisories\.maxRecordBytes\)/);
    expect(r.problems[1]!.message).toMatch(/^not valid JSON/);
    expect(r.problems[2]!.message).toMatch(/NUL character/);
    expect(r.problems[3]!.message).toMatch(/^not an OSV record: affected\.0\.versions:/);
    // Re-importing the same record changes nothing: no reload, no second "blocked".
    expect(await store.importFrom(folder)).toMatchObject({ imported: 1, malware: [], malwareChanged: false });
    const z = await store.importFrom(join(folder, 'dump.zip'));
    expect(z).toMatchObject({ imported: 1, malware: ['MAL-2026-6'] });
    expect(z.problems).toEqual([
      { path: `${join(folder, 'dump.zip')}!huge.json`, message: expect.stringMatching(/^5000 bytes, more than/) },
    ]);
    expect(await store.count()).toBe(2);
    // Both records are policy rules: the PyPI one for its one version, the npm one (introduced 0) for every version.
    const rules = await store.malwareRules();
    expect(rules.map((x) => [x.kind, x.ecosystem, x.name, x.id, x.matcher.matches('1.0'), x.matcher.matches('1.1')])).toEqual([
      ['malware', 'pypi', 'evil-pkg', 'MAL-2026-1', true, false],
      ['malware', 'npm', 'evil-js', 'MAL-2026-6', true, true],
    ]);
    // A withdrawn record lifts its block (the policy is told to reload), and blocks nothing new.
    await writeFile(
      good,
      JSON.stringify(
        osv('MAL-2026-1', [{ package: { ecosystem: 'PyPI', name: 'Evil_Pkg' }, versions: ['1.0'] }], { withdrawn: '2026-12-01T00:00:00Z' }),
      ),
    );
    expect(await store.importFrom(folder)).toMatchObject({ imported: 1, malware: [], malwareChanged: true });
    expect((await store.malwareRules()).map((x) => x.id)).toEqual(['MAL-2026-6']);
    await db.close();
  });

  it('blocks a matched version above every allowlist rule and exception, in every view', () => {
    const rule = (r: Partial<Rule> & Pick<Rule, 'kind'>): Rule => ({
      ecosystem: 'pypi',
      name: 'evil-pkg',
      view: '*',
      bypassCooldown: r.kind === 'exception',
      matcher: { text: '', matches: () => true },
      ...r,
    });
    const malware = rule({ kind: 'malware', id: 'MAL-2026-1', matcher: { text: '==1.0', matches: (v) => v === '1.0' } });
    const policy = new Policy(
      [rule({ kind: 'allowlist' }), rule({ kind: 'exception', id: 'EXC-1', view: 'team-a' }), malware],
      new Map([
        ['default', {}],
        ['team-a', {}],
      ]),
      grammars,
      'request it',
    );
    for (const view of ['default', 'team-a']) {
      const d = policy.decide({ ecosystem: 'pypi', name: 'Evil_Pkg', version: '1.0', view });
      expect(d).toMatchObject({ allowed: false, code: 'malware', rule: malware });
      expect(d.reason).toBe(
        'evil-pkg 1.0 is blocked by Safelist in every view: malicious-package advisory MAL-2026-1; no exception can allow it',
      );
      expect(policy.decide({ ecosystem: 'pypi', name: 'evil-pkg', version: '1.1', view }).allowed).toBe(true);
    }
    // A malware rule is no reason to mirror or list a name.
    expect(policy.namesInScope('pypi').has('evil-pkg')).toBe(true);
    const onlyMalware = new Policy([malware], new Map([['default', {}]]), grammars, 'request it');
    expect(onlyMalware.namesInScope('pypi').size).toBe(0);
    expect(onlyMalware.projectVisible('pypi', 'evil-pkg', 'default')).toBe(false);
    expect(onlyMalware.fingerprint).not.toBe(new Policy([], new Map([['default', {}]]), grammars, 'request it').fingerprint);
  });

  it('`safelist advisories import` names each skipped file and exits 1, importing the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-mal-cli-'));
    await mkdir(join(dir, 'osv'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(
      join(dir, 'osv', 'MAL-2026-7.json'),
      JSON.stringify(osv('MAL-2026-7', [{ package: { ecosystem: 'PyPI', name: 'evil-pkg' }, versions: ['1.0'] }])),
    );
    await writeFile(join(dir, 'osv', 'broken.json'), 'not json');
    await writeFile(
      join(dir, 'osv', 'big.json'),
      JSON.stringify(osv('MAL-2026-8', [{ package: { ecosystem: 'PyPI', name: 'big' } }], { details: 'x'.repeat(3000) })),
    );
    const posted: unknown[] = [];
    const hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posted.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `advisories: { sources: [${join(dir, 'osv')}], schedule: '', maxRecordBytes: 2048 }`,
        `notifications: { webhooks: [ { url: "http://127.0.0.1:${(hook.address() as { port: number }).port}/hook" } ] }`,
        '',
      ].join('\n'),
    );
    const r = await cli(['--config', config, 'advisories', 'import']);
    hook.close();
    // The CLI waited for the webhook before it exited.
    expect(posted).toEqual([
      { event: 'advisory.malware-blocked', at: expect.any(String), advisories: ['MAL-2026-7'], packages: ['pypi evil-pkg (==1.0)'] },
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`advisory file ${join(dir, 'osv', 'broken.json')} skipped: not valid JSON`);
    expect(r.stderr).toContain(`advisory file ${join(dir, 'osv', 'big.json')} skipped:`);
    expect(JSON.parse(r.stdout)).toMatchObject({ sources: [{ imported: 1, problems: 2 }], malwareBlocked: ['MAL-2026-7'] });
    const db = await openStateDb({ pglitePath: join(dir, 'state') });
    try {
      expect((await new AdvisoryStore(db).malwareRules()).map((x) => x.id)).toEqual(['MAL-2026-7']);
    } finally {
      await db.close();
    }
  });
});
