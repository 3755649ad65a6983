// /metrics in Prometheus text format: requests by surface and status, bytes served, policy
// refusals, index cache hits, sync runs, exception states; and /readyz telling the truth.
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

/** The value of one sample line, e.g. metric('safelist_http_requests_total{surface="pypi",…}'). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

describe('metrics and readiness', () => {
  let sl: TestSafelist;
  let sha = '';
  let filename = '';
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-metrics-'));
    const w = await buildWheel(dir, { name: 'm-pkg', version: '1.0' });
    await buildWheel(dir, { name: 'm-pkg', version: '2.0' });
    sha = w.sha256;
    filename = w.filename;
    sl = await startTestSafelist({ allowlist: 'packages:\n  - "m-pkg<2"\n' });
    await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('counts requests, bytes, refusals, cache hits and sync runs', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${sl.url}/pypi/default/simple/m-pkg/`)).arrayBuffer();
    const file = await fetch(`${sl.url}/pypi/default/files/${sha}/${filename}`);
    const size = (await file.arrayBuffer()).byteLength;
    await (await fetch(`${sl.url}/pypi/default/simple/not-here/`)).arrayBuffer();
    const blockedFile = openedPypi(sl.runtime)
      .catalog.project('m-pkg')!
      .files.find((f) => f.version === '2.0')!;
    expect((await fetch(`${sl.url}/pypi/default/files/${blockedFile.sha256}/${blockedFile.filename}`)).status).toBe(403);
    await sl.syncNow();

    const res = await fetch(`${sl.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'safelist_http_requests_total', { surface: 'pypi', status: '200' })).toBe(4);
    expect(sample(text, 'safelist_http_requests_total', { surface: 'pypi', status: '404' })).toBe(1);
    expect(sample(text, 'safelist_http_requests_total', { surface: 'pypi', status: '403' })).toBe(1);
    expect(sample(text, 'safelist_http_response_bytes_total', { surface: 'pypi' })).toBeGreaterThan(size);
    expect(sample(text, 'safelist_blocked_requests_total', { ecosystem: 'pypi' })).toBe(2);
    expect(sample(text, 'safelist_index_cache_lookups', { result: 'hit' })).toBe(2);
    expect(sample(text, 'safelist_sync_runs_total', { ecosystem: 'pypi', result: 'ok' })).toBe(1);
    expect(sample(text, 'safelist_audit_records')).toBeGreaterThanOrEqual(1);
    expect(text).toContain('safelist_process_resident_memory_bytes');
    expect(text).toContain('# TYPE safelist_gate_images gauge');
  });

  it('counts and logs responses without a listener of its own on any of them', async () => {
    // What a response carries once its handler ran, seen by a 'request' listener added after the server's own.
    const listeners = (res: ServerResponse) => `finish ${res.listenerCount('finish')}, error ${res.listenerCount('error')}`;
    const watch = (into: string[]) => (_req: IncomingMessage, res: ServerResponse) => void into.push(listeners(res));
    // A bare node:http server: the listeners Node.js itself adds to every response.
    const bare = createServer((_req, res) => res.end('ok'));
    const bareSeen: string[] = [];
    bare.on('request', watch(bareSeen));
    await new Promise<void>((ok) => bare.listen(0, '127.0.0.1', ok));
    const seen: string[] = [];
    const onRequest = watch(seen);
    sl.app.server.on('request', onRequest);
    try {
      await (await fetch(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/`)).arrayBuffer();
      await (await fetch(`${sl.url}/pypi/default/simple/m-pkg/`)).arrayBuffer();
      await (await fetch(`${sl.url}/pypi/default/simple/not-here/`)).arrayBuffer();
    } finally {
      sl.app.server.off('request', onRequest);
      await new Promise((ok) => bare.close(ok));
    }
    expect(bareSeen).toHaveLength(1);
    expect(seen).toEqual([bareSeen[0], bareSeen[0]]);
  });

  it('reports ready with database and storage checks', async () => {
    const res = await fetch(`${sl.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });
});
