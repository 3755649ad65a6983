// Degraded modes with the real dependencies actually stopped and started again:
// - Azure Blob (Azurite, persisted to a folder) down: index pages keep serving from memory,
//   file requests answer 503 with Retry-After, /readyz says why; all recover when it returns.
// - PostgreSQL (a private server) down: the read path keeps the last known policy and
//   catalog, the management API answers 503; after the restart the notification connection
//   comes back by itself and an allowlist change made meanwhile takes effect.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startAzurite } from '../support/azurite.js';
import { startPrivatePostgres } from '../support/private-postgres.js';
import { startTestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { until } from '../support/wait.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('degraded modes', () => {
  it('keeps serving index pages while Azure Blob is down, 503s files with Retry-After, and recovers', async () => {
    const azurite = await startAzurite({ location: await mkdtemp(join(tmpdir(), 'safelist-azurite-')) });
    const sl = await startTestSafelist({
      azure: { connectionString: azurite.connectionString, container: 'degraded' },
      allowlist: 'packages:\n  - deg-pkg\n',
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'safelist-deg-'));
      const w = await buildWheel(dir, { name: 'deg-pkg', version: '1.0' });
      await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
      const file = `${sl.url}/pypi/default/files/${w.sha256}/${w.filename}`;
      expect((await fetch(file)).status).toBe(200);

      await azurite.stop();
      const page = await fetch(`${sl.url}/pypi/default/simple/deg-pkg/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(w.filename);
      const down = await fetch(file);
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('30');
      expect(down.headers.get('content-type')).toBe('application/problem+json');
      const ready = await fetch(`${sl.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { storage: string; database: string } }).checks.database).toBe('ok');

      await azurite.restart();
      await until(async () => (await fetch(file)).status === 200, 'file requests to recover');
      expect((await fetch(`${sl.url}/readyz`)).status).toBe(200);
    } finally {
      await sl.stop();
      await azurite.stop();
    }
  });

  it('keeps the read path on the last known policy while PostgreSQL is down, 503s the API, and recovers on its own', async () => {
    const pg = await startPrivatePostgres();
    const sl = await startTestSafelist({
      databaseUrl: pg.url,
      allowlist: 'packages:\n  - deg-pkg\n',
      extra: { auth: { tokens: [{ id: 'oid-audrey', token: 'auditor-token-0123456789', roles: ['auditor'] }] } },
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'safelist-deg-'));
      const w = await buildWheel(dir, { name: 'deg-pkg', version: '1.0' });
      const other = await buildWheel(dir, { name: 'later-pkg', version: '1.0' });
      await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
      const api = () => fetch(`${sl.url}/api/v1/exceptions`, { headers: { authorization: 'Bearer auditor-token-0123456789' } });
      expect((await api()).status).toBe(200);

      pg.stop();
      expect((await fetch(`${sl.url}/pypi/default/simple/deg-pkg/`)).status).toBe(200);
      expect((await fetch(`${sl.url}/pypi/default/files/${w.sha256}/${w.filename}`)).status).toBe(200);
      const down = await api();
      expect(down.status).toBe(503);
      expect(((await down.json()) as { detail: string }).detail).toMatch(/database is unreachable/);
      expect((await fetch(`${sl.url}/readyz`)).status).toBe(503);
      // A policy edit while the database is down still reloads (policy files are not in the DB)…
      await sl.setAllowlist('packages:\n  - deg-pkg\n  - later-pkg\n').catch(() => undefined);

      pg.start();
      await until(async () => (await api()).status === 200, 'the API to recover');
      expect((await fetch(`${sl.url}/readyz`)).status).toBe(200);
      // …and after the restart the listener is back: a catalog change made through another
      // connection reaches this process by notification again.
      await sl.runtime.db.query("SELECT pg_notify('safelist_catalog', $1)", [JSON.stringify({ ecosystem: 'pypi', name: 'later-pkg' })]);
      await until(async () => (await fetch(`${sl.url}/pypi/default/simple/later-pkg/`)).status === 200, 'the later project to be served');
      expect(other.filename).toContain('later_pkg');
    } finally {
      await sl.stop();
      pg.destroy();
    }
  });
});
