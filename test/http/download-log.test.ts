// The download log inside a running server: an overflowing buffer is counted in /metrics
// (safelist_download_log_dropped_total) while every file is still served, and the
// downloads:prune job (run through the jobs API, as its schedule would) applies
// downloads.retention from the configuration. A conda package file fetched with the token in
// the channel path is recorded with that token's identity.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertDownloads } from '../../src/audit/downloads.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { buildCondaPackage, type BuiltCondaPackage } from '../support/conda-channel.js';
import { until } from '../support/wait.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const ADMIN = 'admin-token-0123456789abcdefgh';

describe('download log in the server', () => {
  let sl: TestSafelist;
  let work: string;
  let wheel: { filename: string; sha256: string };
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-download-log-'));
    wheel = await buildWheel(join(work, 'dist'), { name: 'demo-pkg', version: '1.1' });
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - demo-pkg\n',
      extra: {
        audit: { anchorSchedule: '' },
        // One record fits; nothing is flushed until shutdown (or 5000 records).
        downloads: { retention: '30d', bufferSize: 1, batchSize: 5000, flushInterval: '1h', pruneSchedule: '' },
        auth: { tokens: [{ id: 'oid-admin', token: ADMIN, roles: ['admin'] }] },
      },
    });
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const dropped = async () => {
    const text = await (await fetch(`${sl.url}/metrics`)).text();
    const m = /^safelist_download_log_dropped_total\{reason="overflow"\} (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('counts the records a full buffer drops, and serves every file regardless', async () => {
    expect(await dropped()).toBe(0);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${sl.url}/pypi/default/files/${wheel.sha256}/${wheel.filename}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(await dropped()).toBe(2);
  });

  it('the downloads:prune job removes rows older than downloads.retention', async () => {
    const day = 86_400_000;
    const base = {
      view: 'default',
      ecosystem: 'pypi',
      name: 'demo-pkg',
      version: '1.1',
      sha256: wheel.sha256,
      identity: null,
      client: null,
    };
    await insertDownloads(sl.runtime.db, [
      { ...base, at: new Date(Date.now() - 31 * day) },
      { ...base, at: new Date(Date.now() - 29 * day) },
    ]);
    const res = await fetch(`${sl.url}/api/v1/jobs/downloads:prune`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!) as { outcome: { status: string; result: { pruned: number } } };
    expect(last.outcome).toMatchObject({ status: 'done', result: { pruned: 1 } });
    const left = await sl.runtime.db.query<{ at: Date }>('SELECT at FROM download_log');
    expect(left).toHaveLength(1);
    expect(Date.now() - new Date(left[0]!.at).getTime()).toBeLessThan(30 * day);
  });
});

describe('download log: conda with the token in the channel path', () => {
  const TOKEN = 'conda-read-token-0123456789abcdef';
  let sl: TestSafelist;
  let pkg: BuiltCondaPackage;
  beforeAll(async () => {
    sl = await startTestSafelist({
      condaAllowlist: 'channels:\n  conda-forge:\n    - safelib\n',
      condaChannels: [
        { name: 'conda-forge', url: 'http://127.0.0.1:9/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false },
      ],
      extra: {
        audit: { anchorSchedule: '' },
        auth: { packageRead: 'token', tokens: [{ id: 'oid-bob', name: 'Bob', token: TOKEN, roles: ['requester'] }] },
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-download-log-conda-'));
    pkg = await buildCondaPackage(dir, { name: 'safelib', version: '1.5' });
    await importCondaDir(dir, { store: sl.runtime.store, catalog: openedConda(sl.runtime).catalog, channel: 'conda-forge' });
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('records the package file with the identity of the path token', async () => {
    const res = await fetch(`${sl.url}/t/${TOKEN}/conda/default/conda-forge/linux-64/${pkg.filename}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    // Written by the flush timer, off the request path: ask until it is there.
    const rows = await until(async () => {
      const r = await sl.runtime.db.query<Record<string, string>>(
        'SELECT view, ecosystem, name, version, sha256, identity_oid, identity_name FROM download_log',
      );
      return r.length ? r : undefined;
    }, 'the conda download in the log');
    expect(rows).toEqual([
      {
        view: 'default',
        ecosystem: 'conda',
        name: 'safelib',
        version: '1.5',
        sha256: pkg.record.sha256,
        identity_oid: 'oid-bob',
        identity_name: 'Bob',
      },
    ]);
  });
});
