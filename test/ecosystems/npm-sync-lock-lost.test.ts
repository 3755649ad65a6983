// The npm sync told to stop (its job lost its lock: the runner aborts its signal with LOCK_LOST)
// while a tarball is mid-download from an upstream that holds the rest back: the transfer is cut
// at once (not left to run until the sync timeout), the run ends with the signal's reason, the
// tarball is not reported as failed or stalled, and nothing of it is stored. The next run stores
// it. Real parts: an HTTP upstream, the blob store, the catalog on PGlite.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_LOST, errors } from '../../src/errors.js';
import { blobKeyForSha512 } from '../../src/ecosystems/npm/integrity.js';
import { openedNpm } from '../../src/ecosystems/npm/module.js';
import { runNpmSync, type NpmSyncEvent } from '../../src/ecosystems/npm/sync.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { serveDownload, type HeldDownload } from '../support/held-download.js';

describe('an npm sync that loses its lock mid-download', () => {
  const bytes = gzipSync(Buffer.from('held package '.repeat(4000)));
  const sha512 = createHash('sha512').update(bytes).digest();
  let upstream: Server;
  let url: string;
  /** While true, the tarball is sent in part and then held back (the connection stays open). */
  let holdBack = true;
  /** Downloads of the tarball the upstream saw, and whether the client closed each before its end. */
  const downloads: HeldDownload[] = [];
  let sl: TestSafelist;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/held-pkg') {
        res.setHeader('content-type', 'application/json');
        const dist = { tarball: `${url}tarballs/held-pkg-1.0.0.tgz`, integrity: `sha512-${sha512.toString('base64')}` };
        return void res.end(
          JSON.stringify({
            name: 'held-pkg',
            'dist-tags': { latest: '1.0.0' },
            versions: { '1.0.0': { name: 'held-pkg', version: '1.0.0', dist } },
            time: { '1.0.0': '2024-01-01T00:00:00.000Z' },
          }),
        );
      }
      if (req.url !== '/tarballs/held-pkg-1.0.0.tgz') return void res.writeHead(404).end();
      serveDownload(res, bytes, holdBack, downloads);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/`;
    sl = await startTestSafelist({
      npmAllowlist: 'packages:\n  - held-pkg\n',
      // A long sync timeout: the held download never stalls out; only the lost lock can end it.
      extra: { npm: { upstreams: [{ name: 'held', url }] }, sync: { schedule: '', concurrency: 2, timeout: '10m' } },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  const sync = (signal?: AbortSignal, events: NpmSyncEvent[] = []) =>
    runNpmSync(
      { config: sl.config, policy: sl.runtime.policies.policy, catalog: openedNpm(sl.runtime).catalog, store: sl.runtime.store },
      { signal, onEvent: (e) => events.push(e) },
    );

  it('cuts the transfer in flight, ends with LOCK_LOST, reports no failure and stores nothing; the next run stores it', async () => {
    const lost = new AbortController();
    const events: NpmSyncEvent[] = [];
    const ended = sync(lost.signal, events).then(
      (report) => ({ report }),
      (err: unknown) => ({ err }),
    );
    await until(() => downloads.length === 1 || undefined, 'the tarball download to start');
    lost.abort(errors.lockLost('the test ended it'));
    await until(() => downloads[0]!.closedByClient || undefined, 'the upstream to see the transfer closed by the client');
    expect(await ended).toEqual({ err: expect.objectContaining({ code: LOCK_LOST }) });
    expect(events.filter((e) => e.type === 'failed' || e.type === 'fetched')).toEqual([]);
    expect(await sl.runtime.store.stat(blobKeyForSha512(sha512.toString('hex')))).toBeUndefined();
    expect(openedNpm(sl.runtime).catalog.package('held-pkg')?.versions.get('1.0.0')?.stored).toBe(false);

    holdBack = false;
    const r = await sync();
    expect(r).toMatchObject({ downloaded: 1, failed: [] });
    expect(downloads.map((d) => d.held)).toEqual([true, false]);
    expect(openedNpm(sl.runtime).catalog.package('held-pkg')?.versions.get('1.0.0')?.stored).toBe(true);
    expect(await sl.runtime.store.stat(blobKeyForSha512(sha512.toString('hex')))).toBeDefined();
  });
});
