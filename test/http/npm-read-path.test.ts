// The /npm/ read path on a catalog written directly (no upstream): a package refused as a whole
// answers 403 {"error"} in one view and its packument in the view whose exception allows it;
// allowed-but-not-mirrored, unknown views and bad names answer 404/400 in npm's dialect; HEAD and
// gzip carry the document's length and bytes; and with package reads behind tokens, /npm/ is
// closed to a request without one and open with a path token, whose prefix tarball URLs keep.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NpmVersion } from '../../src/ecosystems/npm/catalog.js';
import { blobKeyForSha512 } from '../../src/ecosystems/npm/integrity.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKEN = 'npm-reader-token-0123456789';
const tarball = gzipSync(Buffer.from('a tarball'));
const sha512 = createHash('sha512').update(tarball).digest('hex');

function version(name: string, v: string, stored: boolean): NpmVersion {
  return {
    name,
    version: v,
    manifest: JSON.stringify({
      name,
      version: v,
      description: 'x'.repeat(2000),
      dist: { integrity: `sha512-${Buffer.from(sha512, 'hex').toString('base64')}` },
    }),
    integrity: `sha512-${Buffer.from(sha512, 'hex').toString('base64')}`,
    shasum: null,
    sha512,
    sha256: createHash('sha256').update(tarball).digest('hex'),
    size: tarball.length,
    stored,
    source: 'test',
    sourceUrl: null,
    uploadTime: new Date('2024-01-01T00:00:00Z'),
  };
}

describe('npm read path', () => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      npmAllowlist: 'packages:\n  - pending-pkg\n',
      exceptions: {
        'e.yaml':
          'exceptions:\n  - { id: N-7, ecosystem: npm, package: "team-only@^1", view: team-a, reason: trial, expires: 2099-12-31 }\n',
      },
      extra: { auth: { packageRead: 'token', tokens: [{ id: 'oid-reader', name: 'Reader', token: TOKEN, roles: ['requester'] }] } },
    });
    await sl.runtime.store.put(blobKeyForSha512(sha512), tarball);
    const meta = { distTags: { latest: '1.0.0' }, fields: {} };
    await sl.runtime.npmCatalog.record('team-only', 'test', meta, [version('team-only', '1.0.0', true)]);
    await sl.runtime.npmCatalog.record('pending-pkg', 'test', meta, [version('pending-pkg', '1.0.0', false)]);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${sl.url}/t/${TOKEN}${path}`, { method, headers });
  const error = async (res: Response) => ((await res.json()) as { error: string }).error;

  it('closes /npm/ to requests without a token', async () => {
    const res = await fetch(`${sl.url}/npm/team-a/team-only`);
    expect(res.status).toBe(401);
  });

  it('refuses a package in the view without an exception, serves it in the view with one', async () => {
    const refused = await get('/npm/default/team-only');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await error(refused)).toContain('team-only is blocked by Safelist policy in view default');
    const ok = await get('/npm/team-a/team-only');
    expect(ok.status).toBe(200);
    const doc = (await ok.json()) as { versions: Record<string, { dist: { tarball: string } }> };
    const url = doc.versions['1.0.0']!.dist.tarball;
    expect(url).toBe(`${sl.url}/t/${TOKEN}/npm/team-a/team-only/-/team-only-1.0.0.tgz`);
    const file = await fetch(url);
    expect(Buffer.from(await file.arrayBuffer())).toEqual(tarball);
    const other = await get('/npm/default/team-only/-/team-only-1.0.0.tgz');
    expect(other.status).toBe(403);
  });

  it('answers 404 in npm dialect for what is allowed but not mirrored, and for unknown views; 400 for bad names', async () => {
    const pending = await get('/npm/default/pending-pkg/-/pending-pkg-1.0.0.tgz');
    expect(pending.status).toBe(404);
    expect(await error(pending)).toContain('not mirrored yet');
    const view = await get('/npm/nowhere/team-only');
    expect(view.status).toBe(404);
    expect(await error(view)).toContain('view "nowhere" does not exist');
    const bad = await get('/npm/default/Bad%20Name');
    expect(bad.status).toBe(400);
  });

  it('sends HEAD with the length of GET, and gzip when asked', async () => {
    const full = await get('/npm/team-a/team-only', { 'accept-encoding': 'identity' });
    const body = Buffer.from(await full.arrayBuffer());
    const head = await get('/npm/team-a/team-only', { 'accept-encoding': 'identity' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(body.length);
    const res = await new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolve, reject) => {
      // fetch would decode it; read the raw bytes to see what went over the wire.
      import('node:http').then(({ get: httpGet }) =>
        httpGet(`${sl.url}/t/${TOKEN}/npm/team-a/team-only`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ encoding: r.headers['content-encoding'], bytes: Buffer.concat(chunks) }));
        }).on('error', reject),
      );
    });
    expect(res.encoding).toBe('gzip');
    expect(gunzipSync(res.bytes)).toEqual(body);
  });
});
