// `safelist sync` where the only way out is an egress proxy: a PyPI upstream (nginx) reached
// through tinyproxy, configured the way platform teams do, with HTTPS_PROXY / HTTP_PROXY in the
// environment. tinyproxy's log proves the index page and the wheel went through it; NO_PROXY
// sends them around it; a stopped proxy fails the sync naming the proxy, as a passing failure.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { seededPgliteYaml } from '../support/databases.js';
import { startNginxUpstream, type NginxUpstream } from '../support/nginx-upstream.js';
import { startTinyproxy, type Tinyproxy } from '../support/tinyproxy.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';

describe('safelist sync through an egress proxy', () => {
  let dir: string;
  let upstream: NginxUpstream;
  let proxy: Tinyproxy;
  let wheel: BuiltWheel;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-sync-proxy-'));
    wheel = await buildWheel(join(dir, 'upstream'), { name: 'proxied-pkg', version: '1.0' });
    upstream = await startNginxUpstream({ packagesDir: join(dir, 'upstream') });
    proxy = await startTinyproxy({ user: 'sync', password: 'egress-pw' });
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - proxied-pkg\n');
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function configFor(name: string): Promise<string> {
    const config = join(dir, `${name}.yaml`);
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, name, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, name, 'pglite'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `pypi: { upstreams: [ { name: local, url: "${upstream.url}" } ] }`,
        'sync: { schedule: "", timeout: 5s }',
        '',
      ].join('\n'),
    );
    return config;
  }

  it('fetches the index page and the wheel through the proxy named by HTTPS_PROXY / HTTP_PROXY', async () => {
    const before = (await proxy.requests()).length;
    const r = await cli(['--config', await configFor('through'), 'sync'], { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: 1, failed: 0 });
    const through = (await proxy.requests()).slice(before);
    expect(through).toContain(`GET ${upstream.url}proxied-pkg/ HTTP/1.1`);
    expect(through).toContain(`GET http://127.0.0.1:${upstream.port}/packages/${wheel.filename} HTTP/1.1`);
    expect(r.stderr).not.toContain('egress-pw');
  });

  it('goes around the proxy for NO_PROXY hosts', async () => {
    const before = (await proxy.requests()).length;
    const r = await cli(['--config', await configFor('around'), 'sync'], { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: 1, failed: 0 });
    expect((await proxy.requests()).length).toBe(before);
  });

  it('fails naming the proxy, never its password, when the proxy is down', async () => {
    const gone = await startTinyproxy({ user: 'sync', password: 'egress-pw' });
    await gone.stop();
    const r = await cli(['--config', await configFor('down'), 'sync'], { HTTP_PROXY: gone.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `local: upstream unreachable at ${upstream.url}proxied-pkg/ through proxy http://127.0.0.1:${gone.port}: connection refused (ECONNREFUSED 127.0.0.1:${gone.port})`,
    );
    expect(r.stderr).not.toContain('egress-pw');
  });
});
