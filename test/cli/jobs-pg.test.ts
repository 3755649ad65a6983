// On PostgreSQL every process may write: the real CLI runs its jobs itself beside a running
// server (same database, same storage), and the server offers the result through the catalog
// notifications it already follows — no restart, no hand-off. Each CLI run is audited with the
// CLI user as actor.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { startTestSafelist, writeCliConfigBeside, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('the CLI beside a running server on PostgreSQL', () => {
  let upstream: TestSafelist;
  let sl: TestSafelist;
  let config: string;
  let work: string;
  let synced: BuiltWheel;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-jobs-pg-'));
    upstream = await startTestSafelist({ allowlist: 'packages:\n  - pg-synced\n' });
    synced = await buildWheel(join(upstream.dir, 'wheels'), { name: 'pg-synced', version: '1.0' });
    const { importPypiDir } = await import('../../src/ecosystems/pypi/importer.js');
    await importPypiDir(join(upstream.dir, 'wheels'), { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
    sl = await startTestSafelist({
      db: 'pg',
      allowlist: 'packages:\n  - pg-synced\n  - pg-imported\n',
      upstreams: [{ name: 'up', url: `${upstream.url}/pypi/default/simple/` }],
    });
    // The CLI's configuration: the server's database, storage and policy files.
    config = join(work, 'safelist.yaml');
    await writeCliConfigBeside(sl, config, [`pypi: { upstreams: [ { name: up, url: "${upstream.url}/pypi/default/simple/" } ] }`]);
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const offered = (project: string, filename: string) =>
    until(
      async () => (await (await fetch(`${sl.url}/pypi/default/simple/${project}/`)).text()).includes(filename),
      `the server to offer ${filename}`,
      30_000,
    );

  it('imports beside the server, which offers the packages without a restart', async () => {
    const dir = join(work, 'local');
    const w = await buildWheel(dir, { name: 'pg-imported', version: '0.1' });
    const r = await cli(['--config', config, 'import', 'pypi', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ imported: 1, skipped: 0 });
    await offered('pg-imported', w.filename);
    const records = await sl.runtime.audit.query({ action: 'import.finished' });
    expect(records).toEqual([
      expect.objectContaining({
        actor: `cli:${userInfo().username}`,
        subject: 'pypi',
        detail: expect.objectContaining({ imported: 1, files: [w.filename] }),
      }),
    ]);
  });

  it('syncs beside the server, under the same lock, and the server offers the file', async () => {
    const r = await cli(['--config', config, 'sync']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: 1, failed: 0 });
    await offered('pg-synced', synced.filename);
    const file = await fetch(`${sl.url}/pypi/default/files/${synced.sha256}/${synced.filename}`);
    expect(file.status).toBe(200);
    const records = await sl.runtime.audit.query({ action: 'sync.finished', subject: 'pypi' });
    expect(records).toEqual([
      expect.objectContaining({ actor: `cli:${userInfo().username}`, detail: expect.objectContaining({ downloaded: 1 }) }),
    ]);
    // The server's own run finds nothing left to do: one store, one catalog.
    expect((await sl.syncNow())?.downloaded).toBe(0);
  });
});
