// Who pulled it: real pip (isolated) installs demo-pkg 1.1 through Safelist with a package read
// token; the download log records view, identity, client and time off the request path. The
// first server only flushes at shutdown (flushInterval 1h), so the record is on disk because
// the ordered stop flushed it; a restarted server on the same PostgreSQL database lists it, a
// second install on it is added by the timer flush, and `safelist incident` (the real CLI, a
// child process) prints the view, the identity and the times.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import type { IncidentReport } from '../../src/gate/incidents.js';
import { cli } from '../support/cli.js';
import { createPgDatabase } from '../support/databases.js';
import { pipInstall } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const READ_TOKEN = 'alice-read-token-0123456789abc';
const AUDITOR = 'auditor-token-0123456789abcdef';
const ALLOWLIST = 'packages:\n  - "demo-pkg>=1.0,<2"\n';

describe('incident: who pulled demo-pkg 1.1, with real pip and the CLI', () => {
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let work: string;
  let blobs: string;
  let sl: TestSafelist | undefined;
  let wheel: { filename: string; sha256: string };

  const start = (downloads: Record<string, unknown> = {}) =>
    startTestSafelist({
      databaseUrl: db.url,
      views: { 'team-a': {} },
      allowlist: ALLOWLIST,
      extra: {
        storage: { kind: 'fs', path: blobs },
        audit: { anchorSchedule: '' },
        downloads,
        auth: {
          packageRead: 'token',
          tokens: [
            { id: 'oid-alice', name: 'Alice', token: READ_TOKEN, roles: ['requester'] },
            { id: 'oid-auditor', token: AUDITOR, roles: ['auditor'] },
          ],
        },
      },
    });
  const install = async () => {
    const r = await pipInstall({
      indexUrl: `http://pip:${READ_TOKEN}@${sl!.url.replace('http://', '')}/pypi/team-a/simple/`,
      requirements: ['demo-pkg==1.1'],
      target: await mkdtemp(join(work, 'target-')),
    });
    expect(r.code, r.output).toBe(0);
  };
  const incident = async (): Promise<IncidentReport> => {
    const res = await fetch(`${sl!.url}/api/v1/incidents?name=demo-pkg&version=1.1`, { headers: { authorization: `Bearer ${AUDITOR}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as IncidentReport;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-incident-'));
    blobs = join(work, 'blobs');
    for (const v of ['1.0', '1.1']) {
      const w = await buildWheel(join(work, 'dist'), { name: 'demo-pkg', version: v, modules: { demo_pkg: `VERSION = "${v}"\n` } });
      if (v === '1.1') wheel = w;
    }
    db = await createPgDatabase();
    sl = await start({ flushInterval: '1h', batchSize: 5000 });
    await importPypiDir(join(work, 'dist'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
  });
  afterAll(async () => {
    await sl?.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('records the download at shutdown, keeps it across a restart, and adds the next one off the request path', async () => {
    await install();
    // Buffered, not written: the response did not wait for the database.
    expect((await incident()).downloads).toEqual([]);
    await sl!.stop();
    sl = await start();
    const after = await incident();
    expect(after.downloads).toEqual([
      {
        view: 'team-a',
        identity: { oid: 'oid-alice', name: 'Alice' },
        first: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        last: after.downloads[0]!.first,
        count: 1,
        files: [wheel.sha256],
      },
    ]);
    await install();
    const two = await until(async () => {
      const r = await incident();
      return r.downloads[0]?.count === 2 ? r : undefined;
    }, 'the second download in the log');
    expect(two.downloads[0]!.first).toBe(after.downloads[0]!.first);
    expect(two.downloads[0]!.last >= two.downloads[0]!.first).toBe(true);
    const raw = await sl!.runtime.db.query<{ client: string; ecosystem: string; name: string }>(
      'SELECT client, ecosystem, name FROM download_log',
    );
    expect(raw).toEqual([
      { client: '127.0.0.1', ecosystem: 'pypi', name: 'demo-pkg' },
      { client: '127.0.0.1', ecosystem: 'pypi', name: 'demo-pkg' },
    ]);
  });

  it('`safelist incident demo-pkg==1.1` lists the view, the identity and when', async () => {
    const config = join(work, 'cli.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${blobs} }`,
        `database: { url: "${db.url}" }`,
        `policy: { allowlistDir: ${join(sl!.dir, 'allowlists')}, exceptionsDir: ${join(sl!.dir, 'exceptions')} }`,
        'views: { team-a: {} }',
        '',
      ].join('\n'),
    );
    const r = await cli(['--config', config, 'incident', 'Demo_Pkg==1.1']);
    expect(r.code, r.stderr).toBe(0);
    const first = (await incident()).downloads[0]!;
    expect(r.stdout).toContain('pypi demo-pkg 1.1: not blocked as malicious');
    expect(r.stdout).toContain(`view team-a  identity Alice (oid-alice)  first ${first.first}  last ${first.last}  count 2`);
    expect(r.stdout).toContain('images containing it: none recorded');

    const bad = await cli(['--config', config, 'incident', 'demo-pkg']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('name one package version as NAME==VERSION');
  });
});
