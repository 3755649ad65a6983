// A catalog reload that fails after a NOTIFY or after the notification connection comes back
// is logged, counted in /metrics and retried until the listing is fresh. The fault is real: the
// table the reload reads is renamed away (in the same transaction that writes the new file and
// notifies), and on PostgreSQL the listening connection is terminated by the server.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/state/db.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const ALLOWLIST = 'packages:\n  - late-pkg\n';

/** A file record written with SQL only: no notification, no reload by this process. */
async function insertFile(q: Queryable, table: string, version: string): Promise<string> {
  const filename = `late_pkg-${version}-py3-none-any.whl`;
  await q.query(
    `INSERT INTO ${table} (sha256, project, display_name, version, filename, size, source, stored) VALUES ($1, 'late-pkg', 'late-pkg', $2, $3, 10, 'test', true)`,
    [randomBytes(32).toString('hex'), version, filename],
  );
  return filename;
}

async function metric(sl: TestSafelist, name: string): Promise<number> {
  const text = await (await fetch(`${sl.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{catalog="pypi"} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
const reloadFailures = (sl: TestSafelist) => metric(sl, 'safelist_catalog_reload_failures_total');

const listing = async (sl: TestSafelist) => {
  const res = await fetch(`${sl.url}/pypi/default/simple/late-pkg/`);
  return res.status === 200 ? res.text() : '';
};

describe.each(DB_MODES)('catalog reloads that fail (%s)', (mode) => {
  let sl: TestSafelist | undefined;
  afterEach(async () => {
    await sl?.stop();
    sl = undefined;
  });

  it('counts a reload that failed after a NOTIFY and retries it until the listing is fresh', async () => {
    sl = await startTestSafelist({ db: mode, allowlist: ALLOWLIST });
    expect(await reloadFailures(sl)).toBe(0);
    let filename = '';
    await sl.runtime.db.tx(async (q) => {
      filename = await insertFile(q, 'pypi_files', '1.0');
      await q.exec('ALTER TABLE pypi_files RENAME TO pypi_files_away');
      await q.query(`SELECT pg_notify('safelist_catalog', $1)`, [JSON.stringify({ ecosystem: 'pypi', name: 'late-pkg' })]);
    });
    await until(async () => (await reloadFailures(sl!)) >= 1, 'the failed reload to be counted');
    expect(await listing(sl)).not.toContain(filename);

    await sl.runtime.db.exec('ALTER TABLE pypi_files_away RENAME TO pypi_files');
    await until(async () => (await listing(sl!)).includes(filename), 'the retried reload to make the listing fresh');
    expect(await metric(sl, 'safelist_catalog_reloads_pending')).toBe(0);
  });

  it.runIf(mode === 'pg')('counts a reload that failed after the notification connection came back, and retries it', async () => {
    sl = await startTestSafelist({ db: mode, allowlist: ALLOWLIST });
    await sl.runtime.db.exec('ALTER TABLE pypi_files RENAME TO pypi_files_away');
    const filename = await insertFile(sl.runtime.db, 'pypi_files_away', '2.0');
    // The server drops the listening connection: notifications may have been missed, so the
    // runtime reloads everything when it is back, and that reload fails.
    const killed = await sl.runtime.db.query<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
    );
    expect(killed.length).toBe(1);
    await until(async () => (await reloadFailures(sl!)) >= 1, 'the failed reload after the reconnect to be counted');
    expect(await listing(sl)).not.toContain(filename);

    await sl.runtime.db.exec('ALTER TABLE pypi_files_away RENAME TO pypi_files');
    await until(async () => (await listing(sl!)).includes(filename), 'the retried reload to make the listing fresh');
  });
});
