// npm's audit endpoint: OSV records imported for npm become npm's bulk advisories (semver ranges
// from SEMVER/ECOSYSTEM events, severity, CWE, CVSS score from the vector), only those that affect
// a version asked about; the gzip body npm sends is read, bad bodies are 400s saying what to fix,
// large ones are refused; and the real `npm audit` reports an imported advisory.
import { gzipSync } from 'node:zlib';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryRange } from '../../../src/ecosystems/npm/audit.js';
import type { OsvAdvisory } from '../../../src/ecosystems/types.js';
import { cvss3BaseScore } from '../../../src/ecosystems/npm/cvss.js';
import { startTestSafelist, type TestSafelist } from '../../support/safelist.js';
import { isolatedNpm, lockedProject } from '../../support/npm-client.js';

const semverRange = (...events: Array<Record<string, string>>) => [{ type: 'SEMVER', events }];

const ghsa: OsvAdvisory = {
  id: 'GHSA-demo-0001',
  summary: 'Prototype pollution in demo-lib',
  references: [
    { type: 'WEB', url: 'https://example.test/blog' },
    { type: 'ADVISORY', url: 'https://example.test/advisories/GHSA-demo-0001' },
  ],
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
  affected: [{ package: { ecosystem: 'npm', name: 'demo-lib' }, ranges: semverRange({ introduced: '0' }, { fixed: '1.2.0' }) }],
  database_specific: { cwe_ids: ['CWE-1321'] },
};
const records: OsvAdvisory[] = [
  ghsa,
  // Only 2.x: not reported for demo-lib 1.0.0.
  { id: 'GHSA-demo-0002', summary: 'later bug', affected: [{ package: { ecosystem: 'npm', name: 'demo-lib' }, versions: ['2.0.0'] }] },
  {
    id: 'GHSA-demo-0003',
    summary: 'withdrawn',
    withdrawn: '2026-01-01T00:00:00Z',
    affected: [{ package: { ecosystem: 'npm', name: 'demo-lib' } }],
  },
  // The same name in another ecosystem is not npm's.
  { id: 'PYSEC-demo', summary: 'python', affected: [{ package: { ecosystem: 'PyPI', name: 'demo-lib' }, versions: ['1.0.0'] }] },
  {
    id: 'MAL-2026-77',
    summary: 'Malicious code in @evil/pkg',
    affected: [{ package: { ecosystem: 'npm', name: '@evil/pkg' }, ranges: semverRange({ introduced: '0' }) }],
  },
];

describe('OSV affected entries as npm semver ranges', () => {
  it('turns versions and introduced/fixed/last_affected events into one range', () => {
    expect(entryRange({ ranges: semverRange({ introduced: '0' }, { fixed: '1.2.0' }) })).toBe('>=0.0.0-0 <1.2.0');
    expect(
      entryRange({
        versions: ['0.9.1'],
        ranges: semverRange({ introduced: '2.0.0' }, { last_affected: '2.1.3' }, { introduced: '3.0.0' }),
      }),
    ).toBe('=0.9.1 || >=2.0.0 <=2.1.3 || >=3.0.0');
    // Unreadable events, or nothing at all, affect every version (fail closed).
    expect(entryRange({ ranges: semverRange({ introduced: 'not-a-version' }, { fixed: '1.0.0' }) })).toBe('*');
    expect(entryRange({})).toBe('*');
  });

  it('scores CVSS v3 vectors by the specification, and refuses to guess', () => {
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBe(9.8);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N')).toBe(6.1);
    expect(cvss3BaseScore('CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N')).toBe(0);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H')).toBeUndefined();
    expect(cvss3BaseScore('CVSS:4.0/AV:N')).toBeUndefined();
  });
});

describe('POST /npm/{view}/-/npm/v1/security/advisories/bulk', () => {
  let sl: TestSafelist;
  let bulk: string;
  beforeAll(async () => {
    const folder = await mkdtemp(join(tmpdir(), 'safelist-npm-osv-'));
    for (const r of records) await writeFile(join(folder, `${r.id}.json`), JSON.stringify(r));
    sl = await startTestSafelist({ extra: { advisories: { sources: [], schedule: '' } } });
    expect(await sl.runtime.advisories.importFrom(folder)).toMatchObject({ imported: 5, problems: [] });
    bulk = `${sl.url}/npm/default/-/npm/v1/security/advisories/bulk`;
  });
  afterAll(async () => {
    await sl?.stop();
  });

  const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
    fetch(bulk, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  it('answers the gzip body npm sends with the advisories that affect a version asked about', async () => {
    const asked = { 'demo-lib': ['1.0.0', '1.1.0'], '@evil/pkg': ['0.0.1'], 'clean-lib': ['3.0.0'] };
    const res = await post(gzipSync(JSON.stringify(asked)), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      'demo-lib': [
        {
          id: 'GHSA-demo-0001',
          url: 'https://example.test/advisories/GHSA-demo-0001',
          title: 'Prototype pollution in demo-lib',
          severity: 'critical',
          vulnerable_versions: '>=0.0.0-0 <1.2.0',
          cwe: ['CWE-1321'],
          cvss: { score: 9.8, vectorString: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
        },
      ],
      '@evil/pkg': [
        {
          id: 'MAL-2026-77',
          url: 'https://osv.dev/vulnerability/MAL-2026-77',
          title: 'Malicious code in @evil/pkg',
          severity: 'critical',
          vulnerable_versions: '>=0.0.0-0',
          cwe: [],
          cvss: { score: 0, vectorString: null },
        },
      ],
    });
    // Plain JSON is read too; a version outside every range gets no entry.
    const plain = await post(JSON.stringify({ 'demo-lib': ['1.2.0'] }));
    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({});
  });

  it('gives triage the advisories that affect npm versions, in semver order', async () => {
    const hits = await sl.runtime.advisories.hits('npm', 'demo-lib', ['1.0.0', '1.2.0', '2.0.0', '2.0.0-rc.1']);
    expect(hits.map((h) => [h.id, h.affects, h.fixed])).toEqual([
      ['GHSA-demo-0001', ['1.0.0'], ['1.2.0']],
      ['GHSA-demo-0002', ['2.0.0'], []],
    ]);
  });

  it('refuses bad bodies with a 400 that says what to fix, and an unknown view with a 404', async () => {
    const cases: Array<[Buffer | string, Record<string, string>, RegExp]> = [
      ['{"demo-lib": "1.0.0"}', {}, /must be \{ "package-name": \["1\.0\.0", …\] \} at demo-lib/],
      ['[1, 2]', {}, /must be \{ "package-name"/],
      ['{not json', {}, /the body is not JSON/],
      ['{"a": ["1"]}', { 'content-encoding': 'gzip' }, /marked content-encoding: gzip but is not gzip data/],
      ['{"a": ["1"]}', { 'content-encoding': 'br' }, /content-encoding br is not supported/],
    ];
    for (const [body, headers, message] of cases) {
      const res = await post(body, headers);
      expect(res.status, String(body)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    const empty = await fetch(bulk, { method: 'POST' });
    expect(empty.status).toBe(400);
    const unknown = await fetch(bulk.replace('/default/', '/nowhere/'), { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/view "nowhere" does not exist/);
  });

  it('limits the body before and after unzipping', async () => {
    const big = await post('x'.repeat(3 * 1024 * 1024));
    expect(big.status).toBe(413);
    // A small gzip that unzips past the limit (a zip bomb) is refused without unzipping it all.
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
    const res = await post(bomb, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/larger than \d+ bytes once unzipped/);
    const many = Object.fromEntries(Array.from({ length: 20_001 }, (_, i) => [`p${i}`, ['1.0.0']]));
    const tooMany = await post(gzipSync(JSON.stringify(many)), { 'content-encoding': 'gzip' });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/at most 20000 package names/);
  });

  it('is what the real `npm audit` asks, and it reports the imported advisory', async () => {
    const registry = `${sl.url}/npm/default/`;
    const project = await lockedProject(registry, { 'demo-lib': '1.0.0' });
    const npm = await isolatedNpm({ registry });
    const r = await npm.run(['audit', '--json'], project);
    // npm audit exits 1 when it found vulnerabilities at or above its audit level.
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as {
      vulnerabilities: Record<string, { severity: string; range: string; via: Array<{ source: string; title: string; url: string }> }>;
    };
    expect(report.vulnerabilities['demo-lib']).toMatchObject({
      severity: 'critical',
      via: [{ source: 'GHSA-demo-0001', title: 'Prototype pollution in demo-lib', url: 'https://example.test/advisories/GHSA-demo-0001' }],
    });
  });

  it('needs a token where package reads do, as npm sends it from .npmrc', async () => {
    const TOKEN = 'ws-audit-token-0123456789';
    const guarded = await startTestSafelist({
      extra: { auth: { packageRead: 'token', tokens: [{ id: 'ws-team-a', token: TOKEN, roles: ['pipeline'] }] } },
    });
    try {
      const url = `${guarded.url}/npm/default/-/npm/v1/security/advisories/bulk`;
      const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: string }).error).toMatch(/npm \/\/host\/npm\/VIEW\/:_authToken=TOKEN/);
      const withToken = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: '{}',
      });
      expect(withToken.status).toBe(200);
    } finally {
      await guarded.stop();
    }
  });
});
