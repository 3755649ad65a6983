// Large wheels over slow links: a download that keeps bringing bytes runs as long as it needs
// (a 2.5 GB CUDA wheel outlasts any fixed limit), and one that stops bringing bytes fails
// after the sync timeout, saying where it broke off. Real parts: nginx rate-limited with
// limit_rate serving a PEP 503 tree, and a TCP server that sends part of a response and falls
// silent. Robust on a loaded machine: the slow download's longest pause between bytes (~0.3 s:
// nginx sends at most sendfile_max_chunk per wake-up) is a small part of the timeout (3 s), and
// the silent server never sends again, so neither outcome depends on how fast the machine runs.
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPypiSync } from '../../src/ecosystems/pypi/sync.js';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { startNginx, type NginxServer as Nginx } from '../support/nginx-upstream.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('sync over a slow upstream (sync.timeout 3s)', () => {
  let dir: string;
  let nginx: Nginx;
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];
  let slow: BuiltWheel;
  let sl: TestSafelist;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-slow-upstream-'));
    // ~1.6 MB (deflate keeps ~3/4 of base64) at 64 KB/s: ~24 s, well past five sync timeouts (15 s),
    // in chunks of at most 8 KB (sendfile_max_chunk: nginx wakes ~8 times a second), never 3 s without a byte.
    slow = await buildWheel(join(dir, 'www', 'files'), {
      name: 'slow-pkg',
      version: '1.0',
      modules: { slow_pkg: `DATA = "${randomBytes(1536 * 1024).toString('base64')}"\n` },
    });
    silent = createServer((s) => {
      sockets.push(s);
      s.once('data', () =>
        s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000)),
      );
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
    const stalled = 'stalled_pkg-1.0-py3-none-any.whl';
    for (const [project, href] of [
      ['slow-pkg', `../../files/${slow.filename}#sha256=${slow.sha256}`],
      ['stalled-pkg', `http://127.0.0.1:${silentPort}/files/${stalled}#sha256=${'0'.repeat(64)}`],
    ] as const) {
      await mkdir(join(dir, 'www', 'simple', project), { recursive: true });
      await writeFile(join(dir, 'www', 'simple', project, 'index.html'), `<a href="${href}">${href.split('/').pop()!.split('#')[0]}</a>\n`);
    }
    nginx = await startNginx({
      root: join(dir, 'www'),
      types: { html: 'text/html' },
      serverExtra: 'location /files/ { limit_rate 64k; sendfile_max_chunk 8k; }',
    });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - slow-pkg\n  - stalled-pkg\n',
      upstreams: [{ name: 'slow', url: `${nginx.url}simple/` }],
      extra: { sync: { schedule: '', concurrency: 2, timeout: '3s' } },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    for (const s of sockets) s.destroy();
    silent?.close();
    await nginx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('completes a download that outlasts five timeouts while bytes keep coming, and fails one that falls silent, saying where', async () => {
    const report = await runPypiSync({
      config: sl.config,
      policy: sl.runtime.policies.policy,
      catalog: openedPypi(sl.runtime).catalog,
      store: sl.runtime.store,
    });
    expect(
      report.failed.map((f) => f.filename),
      JSON.stringify(report.failed),
    ).toEqual(['stalled_pkg-1.0-py3-none-any.whl']);
    expect(report.failed[0]!.error).toContain(
      `slow: download of http://127.0.0.1:${silentPort}/files/stalled_pkg-1.0-py3-none-any.whl broke off after 1000 of 1000000 bytes: no data for 3000 ms`,
    );
    expect(report.downloaded).toBe(1);
    expect(openedPypi(sl.runtime).catalog.file(slow.sha256)).toMatchObject({ stored: true });
    expect(await sl.runtime.store.stat(blobKeyForSha256(slow.sha256))).toBeDefined();
  }, 120_000);
});
