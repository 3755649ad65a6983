// /metrics in Prometheus text format: requests by surface and status, bytes served, policy
// refusals, index cache hits, sync runs, exception states; and /readyz telling the truth.
import { mkdtemp } from 'node:fs/promises';
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

  it('reports ready with database and storage checks', async () => {
    const res = await fetch(`${sl.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });
});
