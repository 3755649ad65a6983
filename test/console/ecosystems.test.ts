// The console over the ecosystem seam, shown with npm (a module the console was not written for):
// search finds names from the npm catalog (also one recorded after the first search: the cache
// follows catalog.onChange), including by a typo; the package page lists each version with the
// read path's decision from the module's explain(), and the install snippet is the module's own
// (npm install --registry <Safelist>/npm/<view>/). Never reaches a registry: the catalog is
// written directly, as a sync would.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NpmVersion } from '../../src/ecosystems/npm/catalog.js';
import { openedNpm } from '../../src/ecosystems/npm/module.js';
import { ConsoleClient, flat } from '../support/console-client.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKEN = 'console-npm-requester-token-0123456789';
const sha512 = createHash('sha512').update('a tarball').digest('hex');

function version(name: string, v: string): NpmVersion {
  const integrity = `sha512-${Buffer.from(sha512, 'hex').toString('base64')}`;
  return {
    name,
    version: v,
    manifest: JSON.stringify({ name, version: v, dist: { integrity } }),
    integrity,
    shasum: null,
    sha512,
    sha256: null,
    size: 9,
    stored: true,
    source: 'test',
    sourceUrl: null,
    uploadTime: new Date('2024-01-01T00:00:00Z'),
  };
}

const meta = { distTags: { latest: '2.0.0' }, fields: {} };

describe('console pages for an npm package', () => {
  let sl: TestSafelist;
  let c: ConsoleClient;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      npmAllowlist: 'packages:\n  - "left-pad@^1"\n',
      extra: { auth: { tokens: [{ id: 'oid-rita', name: 'Rita', token: TOKEN, roles: ['requester'] }] } },
    });
    await openedNpm(sl.runtime).catalog.record('left-pad', 'test', meta, [version('left-pad', '1.0.0'), version('left-pad', '2.0.0')]);
    c = new ConsoleClient(sl.url);
    expect((await c.signInWithToken(TOKEN)).status).toBe(200);
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('finds an npm name by a typo, and one recorded after the first search', async () => {
    const hits = flat(await c.get('/ui/?q=left-pda&view=team-a'));
    expect(hits).toContain(
      '<a href="/ui/packages/npm/left-pad?view=team-a">left-pad</a><span class="muted">(close match)</span></td><td>npm</td><td class="status-allowed">some versions allowed</td>',
    );
    expect(flat(await c.get('/ui/?q=right-pad&view=team-a'))).toContain('Nothing known to Safelist matches');
    await openedNpm(sl.runtime).catalog.record('right-pad', 'test', meta, [version('right-pad', '2.0.0')]);
    expect(flat(await c.get('/ui/?q=right-pad&view=team-a&ecosystem=npm'))).toContain(
      '<a href="/ui/packages/npm/right-pad?view=team-a">right-pad</a></td><td>npm</td><td class="status-blocked">blocked</td>',
    );
  });

  it("shows each version with the read path's decision, and npm's own install snippet for the newest allowed one", async () => {
    const page = await c.get('/ui/packages/npm/left-pad?view=team-a');
    expect(page.status).toBe(200);
    const body = flat(page);
    const rows = [...body.matchAll(/<th scope="row">([^<]+)<\/th><td class="status-(\w+)">/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      ['1.0.0', 'allowed'],
      ['2.0.0', 'blocked'],
    ]);
    expect(body).toMatch(/allowlist [^<]*npm\.yaml:2 \(\^1\)/);
    expect(body).toContain(`npm install --registry ${sl.url}/npm/team-a/ &quot;left-pad@1.0.0&quot;`);
    expect(body).toContain('href="/ui/request?ecosystem=npm&amp;name=left-pad&amp;view=team-a&amp;versions=2.0.0"');
  });

  it('refuses an ecosystem the registry does not hold, naming the ones it does', async () => {
    const page = await c.get('/ui/packages/cargo/left-pad?view=team-a');
    expect(page.status).toBe(400);
    expect(page.body).toContain('ecosystem must be one of pypi, conda, oci, npm');
  });
});
