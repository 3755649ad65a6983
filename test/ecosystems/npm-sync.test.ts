// The npm sync against a static npm upstream (nginx serving packuments and tarballs the test
// writes): a tarball whose sha512 does not match the upstream's integrity is refused and never
// served; a version without a sha512 is not fetched; a version whose integrity changes upstream
// is refused (versions are immutable); and a tarball stored by an earlier run whose record was
// lost is re-verified from storage instead of downloaded again (the upstream no longer has it).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNpmSync } from '../../src/ecosystems/npm/sync.js';
import { startNginx, type NginxServer } from '../support/nginx-upstream.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

interface Published {
  version: string;
  bytes: Buffer;
  /** What the packument claims, when it is not the truth. */
  integrity?: string | null;
}

const integrityOf = (b: Buffer) => `sha512-${createHash('sha512').update(b).digest('base64')}`;

describe('npm sync from a static upstream', () => {
  let root: string;
  let nginx: NginxServer;
  let sl: TestSafelist;

  /** Writes a packument at /<name> and its tarballs under /tarballs/. */
  const publish = async (name: string, versions: Published[]) => {
    const doc = {
      name,
      'dist-tags': { latest: versions.at(-1)!.version },
      versions: Object.fromEntries(
        versions.map((v) => [
          v.version,
          {
            name,
            version: v.version,
            dist: {
              tarball: `${nginx.url}tarballs/${name}-${v.version}.tgz`,
              shasum: createHash('sha1').update(v.bytes).digest('hex'),
              ...(v.integrity === null ? {} : { integrity: v.integrity ?? integrityOf(v.bytes) }),
            },
          },
        ]),
      ),
      time: Object.fromEntries(versions.map((v) => [v.version, '2024-01-01T00:00:00.000Z'])),
    };
    await writeFile(join(root, name), JSON.stringify(doc));
    for (const v of versions) await writeFile(join(root, 'tarballs', `${name}-${v.version}.tgz`), v.bytes);
  };
  const tgz = (text: string) => gzipSync(Buffer.from(text));
  const sync = () =>
    runNpmSync({ config: sl.config, policy: sl.runtime.policies.policy, catalog: sl.runtime.npmCatalog, store: sl.runtime.store });
  const listed = async (name: string) =>
    Object.keys(((await (await fetch(`${sl.url}/npm/default/${name}`)).json()) as { versions: object }).versions ?? {});

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'safelist-npm-static-'));
    await mkdir(join(root, 'tarballs'));
    nginx = await startNginx({ root });
    sl = await startTestSafelist({
      npmAllowlist: 'packages:\n  - good-pkg\n  - tampered\n  - sha1-only\n',
      extra: { npm: { upstreams: [{ name: 'static', url: nginx.url }] } },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await nginx?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('stores what verifies, refuses what does not, and serves only the stored', async () => {
    await publish('good-pkg', [{ version: '1.0.0', bytes: tgz('good 1') }]);
    await publish('tampered', [{ version: '1.0.0', bytes: tgz('evil'), integrity: integrityOf(tgz('the published bytes')) }]);
    await publish('sha1-only', [{ version: '1.0.0', bytes: tgz('old'), integrity: null }]);
    const r = await sync();
    expect(r.downloaded).toBe(1);
    expect(r.failed.map((f) => [f.filename, f.error])).toEqual([
      ['sha1-only@1.0.0', expect.stringContaining('no sha512 integrity')],
      ['tampered@1.0.0', expect.stringMatching(/sha512 is [0-9a-f]+, the upstream's integrity says .*refusing to store it/)],
    ]);
    expect(await listed('good-pkg')).toEqual(['1.0.0']);
    expect(await listed('tampered')).toEqual([]);
    expect((await fetch(`${sl.url}/npm/default/tampered/-/tampered-1.0.0.tgz`)).status).toBe(404);
  });

  it('refuses a version whose integrity changed upstream', async () => {
    await publish('good-pkg', [{ version: '1.0.0', bytes: tgz('good 1, republished') }]);
    const r = await sync();
    expect(r.failed.find((f) => f.filename === 'good-pkg@1.0.0')?.error).toContain('npm versions are immutable');
    const served = await fetch(`${sl.url}/npm/default/good-pkg/-/good-pkg-1.0.0.tgz`);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(tgz('good 1'));
    await publish('good-pkg', [{ version: '1.0.0', bytes: tgz('good 1') }]);
  });

  it('re-verifies a stored tarball whose record was lost instead of downloading it', async () => {
    await sl.runtime.db.query("UPDATE npm_versions SET stored = false, sha256 = NULL WHERE name = 'good-pkg'");
    await sl.runtime.npmCatalog.reload('good-pkg');
    expect(await listed('good-pkg')).toEqual([]);
    await rm(join(root, 'tarballs', 'good-pkg-1.0.0.tgz')); // the upstream cannot serve it any more
    const r = await sync();
    expect(r.failed.filter((f) => f.filename.startsWith('good-pkg'))).toEqual([]);
    expect(r.downloaded).toBe(0);
    expect(await listed('good-pkg')).toEqual(['1.0.0']);
    const [row] = await sl.runtime.db.query<{ sha256: string }>("SELECT sha256 FROM npm_versions WHERE name = 'good-pkg'");
    expect(row!.sha256).toBe(createHash('sha256').update(tgz('good 1')).digest('hex'));
  });
});
