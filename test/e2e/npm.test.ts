// npm end to end: verdaccio (from its npm package) is the upstream, seeded by `npm publish` of
// packages the test builds; the sync job mirrors what the allowlist admits into private storage,
// sha512-verified; Safelist serves packuments (full and abbreviated) with only allowed, mirrored
// versions and its own tarball URLs; the real npm CLI installs an allowed package and its
// dependency with verdaccio stopped (so every byte came from Safelist), and fails on a blocked
// pinned version with Safelist's reason in its output. A MAL- advisory takes a version out.
// Both database modes and both storage kinds, one pairing each.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../support/azurite.js';
import type { DbMode } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { runNpm, startVerdaccio, type Verdaccio } from '../support/verdaccio.js';
import { until } from '../support/wait.js';

const ADMIN = 'admin-token-npm-0123456789';
const ABBREVIATED = 'application/vnd.npm.install-v1+json';
const WORLDS: Array<{ db: DbMode; storage: 'fs' | 'azure' }> = [
  { db: 'pglite', storage: 'fs' },
  { db: 'pg', storage: 'azure' },
];

type NpmSyncResult = { downloaded: number; failed: unknown[]; missing: string[] };

type Packument = {
  name: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, { dist: { tarball: string; integrity: string; shasum: string }; dependencies?: Record<string, string> }>;
  time?: Record<string, string>;
  policyRestrictions?: { message: string; versions: Record<string, unknown> };
};

describe.each(WORLDS)('npm through Safelist from a verdaccio upstream ($db, $storage)', ({ db, storage }) => {
  let verdaccio: Verdaccio;
  let azurite: Azurite | undefined;
  let sl: TestSafelist;
  let work: string;
  let upstreamLib: Packument;

  const syncNpm = async () => {
    const res = await fetch(`${sl.url}/api/v1/jobs/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ecosystem: 'npm' }),
    });
    expect(res.status).toBe(200);
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as {
      outcome: { status: string; result: { npm?: { status: string; result: NpmSyncResult } } };
    };
    expect(last.outcome.status).toBe('done');
    const outcome = last.outcome.result.npm;
    expect(outcome?.status).toBe('done');
    return outcome!.result;
  };
  const packument = async (path: string, accept = ABBREVIATED) => {
    const res = await fetch(`${sl.url}${path}`, { headers: { accept } });
    return { res, body: (await res.json()) as Packument };
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-npm-'));
    verdaccio = await startVerdaccio();
    for (const version of ['1.0.0', '1.1.0', '1.2.0-beta.1', '2.0.0']) await verdaccio.publish({ name: 'lib-base', version });
    await verdaccio.publish({ name: '@acme/app', version: '1.0.0', dependencies: { 'lib-base': '^1.0.0' } });
    for (const version of ['1.0.0', '1.0.1']) await verdaccio.publish({ name: 'evil-pkg', version });
    await verdaccio.publish({ name: 'unlisted', version: '1.0.0' });
    upstreamLib = (await (await fetch(`${verdaccio.url}/lib-base`)).json()) as Packument;
    if (storage === 'azure') azurite = await startAzurite();
    await mkdir(join(work, 'osv'));
    sl = await startTestSafelist({
      db,
      ...(azurite ? { azure: { connectionString: azurite.connectionString, container: 'npm' } } : {}),
      views: { 'team-a': { cooldown: '3650d' } },
      npmAllowlist: 'packages:\n  - lib-base@^1.0.0\n  - "@acme/app"\n  - name: evil-pkg\n    versions: "*"\n',
      extra: {
        npm: { upstreams: [{ name: 'verdaccio', url: `${verdaccio.url}/` }] },
        auth: { tokens: [{ id: 'oid-admin', token: ADMIN, roles: ['admin'] }] },
        advisories: { sources: [join(work, 'osv')], schedule: '' },
      },
    });
    const first = await syncNpm();
    expect(first.failed).toEqual([]);
    // lib-base 1.0.0 and 1.1.0, @acme/app 1.0.0, evil-pkg 1.0.0 and 1.0.1: nothing else is allowed anywhere.
    expect(first.downloaded).toBe(5);
  }, 240_000);

  afterAll(async () => {
    await sl?.stop();
    await verdaccio?.stop();
    await azurite?.stop();
  });

  it('lists only allowed, mirrored versions, with latest rewritten, integrity as upstream and tarballs at Safelist', async () => {
    const { res, body } = await packument('/npm/default/lib-base');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(ABBREVIATED);
    expect(Object.keys(body.versions).sort()).toEqual(['1.0.0', '1.1.0']);
    // Upstream latest is 2.0.0 (refused); next points at a pre-release (refused: pre-releases are off by default).
    expect(upstreamLib['dist-tags']).toMatchObject({ latest: '2.0.0', next: '1.2.0-beta.1' });
    expect(body['dist-tags']).toEqual({ latest: '1.1.0' });
    for (const v of ['1.0.0', '1.1.0']) {
      expect(body.versions[v]!.dist.integrity).toBe(upstreamLib.versions[v]!.dist.integrity);
      expect(body.versions[v]!.dist.shasum).toBe(upstreamLib.versions[v]!.dist.shasum);
      expect(body.versions[v]!.dist.tarball).toBe(`${sl.url}/npm/default/lib-base/-/lib-base-${v}.tgz`);
    }
    expect(Object.keys(body.policyRestrictions!.versions).sort()).toEqual(['1.2.0-beta.1', '2.0.0']);

    const full = await packument('/npm/default/lib-base', 'application/json');
    expect(full.res.headers.get('content-type')).toBe('application/json');
    expect(full.body.time!['1.1.0']).toBe(upstreamLib.time!['1.1.0']);
    expect(full.body.time!['2.0.0']).toBeUndefined();
  });

  it('serves scoped names both ways, with strong ETags and 304', async () => {
    const a = await fetch(`${sl.url}/npm/default/@acme%2fapp`, { headers: { accept: ABBREVIATED } });
    const b = await fetch(`${sl.url}/npm/default/@acme/app`, { headers: { accept: ABBREVIATED } });
    const text = await a.text();
    expect(a.status).toBe(200);
    expect(await b.text()).toBe(text);
    const etag = a.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    const again = await fetch(`${sl.url}/npm/default/@acme%2fapp`, { headers: { accept: ABBREVIATED, 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const app = JSON.parse(text) as Packument;
    expect(app.versions['1.0.0']!.dependencies).toEqual({ 'lib-base': '^1.0.0' });
    expect(app.versions['1.0.0']!.dist.tarball).toBe(`${sl.url}/npm/default/@acme/app/-/app-1.0.0.tgz`);
    const tgz = await fetch(app.versions['1.0.0']!.dist.tarball);
    expect(tgz.status).toBe(200);
  });

  it('keeps the /t/<token>/ prefix in tarball URLs', async () => {
    const { body } = await packument('/t/some-token/npm/default/lib-base');
    expect(body.versions['1.1.0']!.dist.tarball).toBe(`${sl.url}/t/some-token/npm/default/lib-base/-/lib-base-1.1.0.tgz`);
  });

  it('refuses what policy refuses with a JSON reason, and answers 404 JSON for what it does not know', async () => {
    const blocked = await fetch(`${sl.url}/npm/default/lib-base/-/lib-base-2.0.0.tgz`);
    expect(blocked.status).toBe(403);
    expect(((await blocked.json()) as { error: string }).error).toContain('allowed versions are ^1.0.0');
    const unknown = await fetch(`${sl.url}/npm/default/no-such-package`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain('not on the allowlist');
    const unlisted = await fetch(`${sl.url}/npm/default/unlisted/-/unlisted-1.0.0.tgz`);
    expect(unlisted.status).toBe(404);
    const bad = await fetch(`${sl.url}/npm/default/..%2Fetc`);
    expect(bad.status).toBe(400);
  });

  it('counts refusals for demand insight like PyPI: a packument not on the allowlist and a blocked tarball, by name', async () => {
    const view = 'team-a';
    expect((await fetch(`${sl.url}/npm/${view}/@acme%2Fwanted-next`)).status).toBe(404);
    expect((await fetch(`${sl.url}/npm/${view}/lib-base/-/lib-base-2.0.0.tgz`)).status).toBe(403);
    // Two path segments without a scope name no package (npm's other endpoints): no demand for anything.
    expect((await fetch(`${sl.url}/npm/${view}/-/whoami`)).status).toBe(404);
    type Wanted = Array<{ ecosystem: string; name: string; view: string; count: number }>;
    const wanted = async () => {
      const res = await fetch(`${sl.url}/api/v1/demand?limit=500`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { mostWanted: Wanted }).mostWanted.filter((w) => w.ecosystem === 'npm' && w.view === view);
    };
    // Recorded off the response path: wait until both arrive.
    const rows = await until(async () => {
      const w = await wanted();
      return w.length >= 2 ? w : undefined;
    }, 'npm demand rows');
    expect(rows.map((w) => [w.name, w.count]).sort()).toEqual([
      ['@acme/wanted-next', 1],
      ['lib-base', 1],
    ]);
  });

  it('holds back versions younger than the view cool-down, by their upstream time', async () => {
    const { body } = await packument('/npm/team-a/lib-base');
    expect(body.versions).toEqual({});
    expect(body.policyRestrictions!.message).toContain('cool-down of view team-a');
  });

  it('syncs again without downloading what is stored', async () => {
    const again = await syncNpm();
    expect(again).toMatchObject({ downloaded: 0, failed: [], missing: [] });
  });

  it('lets the real npm CLI install an allowed package and its dependency from Safelist alone, and explains a blocked pin', async () => {
    await verdaccio.stop(); // from here on, only Safelist can answer
    const project = join(work, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '0.0.0', private: true }));
    const npmOpts = { cwd: project, userconfig: join(work, 'npmrc'), cache: join(work, 'npm-cache') };
    await writeFile(npmOpts.userconfig, '');
    const registry = ['--registry', `${sl.url}/npm/default/`];
    const ok = await runNpm(['install', '@acme/app', ...registry], npmOpts);
    expect(ok.output).not.toMatch(/npm error/);
    expect(ok.code).toBe(0);
    const installed = async (name: string) =>
      (JSON.parse(await readFile(join(project, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await installed('@acme/app')).toBe('1.0.0');
    expect(await installed('lib-base')).toBe('1.1.0');
    // Both tarballs are in Safelist's download log, under the sha256 of the bytes npm installed.
    const logged = await until(async () => {
      const rows = await sl.runtime.db.query<{ name: string; version: string; sha256: string }>(
        "SELECT DISTINCT name, version, sha256 FROM download_log WHERE ecosystem = 'npm' AND view = 'default' ORDER BY name",
      );
      return rows.length >= 2 ? rows : undefined;
    }, 'the npm downloads in the download log');
    expect(logged.map((r) => `${r.name}@${r.version}`)).toEqual(['@acme/app@1.0.0', 'lib-base@1.1.0']);
    for (const r of logged) expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await runNpm(['ping', ...registry], npmOpts)).code).toBe(0);

    const pinned = await runNpm(['install', 'lib-base@2.0.0', ...registry], npmOpts);
    expect(pinned.code).not.toBe(0);
    expect(pinned.output).toContain('E403');
    expect(pinned.output).toContain('allowed versions are ^1.0.0');
  }, 180_000);

  it('takes a version out when a MAL- advisory for npm names it', async () => {
    await writeFile(
      join(work, 'osv', 'MAL-2026-9001.json'),
      JSON.stringify({
        id: 'MAL-2026-9001',
        modified: '2026-11-30T00:00:00Z',
        summary: 'Malicious code in evil-pkg (npm)',
        affected: [{ package: { ecosystem: 'npm', name: 'evil-pkg' }, versions: ['1.0.1'] }],
      }),
    );
    await sl.runtime.advisories.importFrom(join(work, 'osv'));
    await sl.runtime.policies.reload();
    const { body } = await packument('/npm/default/evil-pkg');
    expect(Object.keys(body.versions)).toEqual(['1.0.0']);
    expect(body['dist-tags'].latest).toBe('1.0.0');
    const tgz = await fetch(`${sl.url}/npm/default/evil-pkg/-/evil-pkg-1.0.1.tgz`);
    expect(tgz.status).toBe(403);
    expect(((await tgz.json()) as { error: string }).error).toContain('malicious-package advisory MAL-2026-9001');
  });
});
