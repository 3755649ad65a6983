// The PyPI catalog under the races the OCI catalog met (oci-catalog-race.test.ts), between two
// replicas (catalog-replicas.ts): a project's reload reads its files and its relayed PEP 792 status
// in one snapshot, so a replica never installs a status beside files it was never committed with;
// and a write is told to the other replicas at its COMMIT, not after the writer's own re-read (a
// crash there would leave them stale until their next full reload). A full reload (at start, after a
// reconnect) reads every project in one snapshot as well. Both database modes.
// Waits are bounded polls on outcomes, never on time.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PypiCatalog, type PypiFile } from '../../src/ecosystems/pypi/catalog.js';
import { catalogReplicas, type CatalogReplicas } from '../support/catalog-replicas.js';
import { DB_MODES } from '../support/databases.js';
import { until } from '../support/wait.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function wheel(project: string, version: string): PypiFile {
  const filename = `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  return {
    sha256: sha(filename),
    project,
    displayName: project,
    version,
    filename,
    size: 1000,
    requiresPython: null,
    uploadTime: null,
    yanked: null,
    metadataSha256: null,
    stored: false,
    metadataStored: false,
    source: 'pypi',
    sourceUrl: `https://files.example/${filename}`,
  };
}

/** What a catalog installed for one project, in order: its versions and its relayed status. */
function installsOf(catalog: PypiCatalog, name: string): Array<{ versions: string[]; status: string | undefined }> {
  const out: Array<{ versions: string[]; status: string | undefined }> = [];
  catalog.onChange((n) => {
    if (n !== name) return;
    const p = catalog.project(n);
    out.push({ versions: p ? p.files.map((f) => f.version) : [], status: p?.upstreamStatus?.status });
  });
  return out;
}

describe.each(DB_MODES)('PyPI catalog races between replicas on %s', (mode) => {
  let r: CatalogReplicas<PypiCatalog>;

  beforeAll(async () => {
    r = await catalogReplicas(mode, (db, reloads) => new PypiCatalog(db, reloads));
  });

  afterAll(async () => {
    await r?.close();
  });

  it('a replica never installs a status beside files it was not committed with, whatever commits between its reads', async () => {
    const { writer, replica, dbB } = r;
    const name = 'race-status';
    const installs = installsOf(replica, name);
    await writer.upsert([wheel(name, '1.0')]);
    await r.drain(dbB);
    await r.settle(dbB);
    // The replica's reload of 2.0 waits before it reads the status (or, read in one statement, before it reads anything).
    dbB.hold(/pypi_project_status/, 'before');
    await writer.upsert([wheel(name, '2.0')]);
    await r.heldWithNothingRunning(dbB, "the replica's reload of 2.0 to wait before reading the status");
    dbB.stopHolding();
    // Committed in this order: 3.0, then the status. No state ever had the status without 3.0.
    await writer.upsert([wheel(name, '3.0')]);
    await writer.setUpstreamStatus(name, { status: 'archived' }, 'pypi');
    dbB.release();
    await r.drain(dbB);
    await r.settle(dbB);
    expect(
      installs.filter((i) => i.status === 'archived' && !i.versions.includes('3.0')),
      JSON.stringify(installs),
    ).toEqual([]);
    expect(installs.at(-1)).toEqual({ versions: ['1.0', '2.0', '3.0'], status: 'archived' });
  });

  // On PGlite the full reload's transaction keeps its one connection: no commit can come between its reads.
  it.runIf(mode === 'pg')('a full reload reads one snapshot: never a status beside files it was not committed with', async () => {
    const { writer, replica, dbB } = r;
    const name = 'race-full-reload';
    await writer.upsert([wheel(name, '1.0')]);
    await r.drain(dbB);
    await r.settle(dbB);
    const installs = installsOf(replica, name);
    // The replica's full reload waits once it has read the statuses, before the files.
    dbB.hold(/FROM pypi_project_status/, 'after');
    // As at a reconnect: the keys notified while it runs are read again once it ends.
    replica.reloadAllLater();
    await r.heldWithNothingRunning(dbB, "the replica's full reload to have read the statuses");
    dbB.stopHolding();
    // Committed in this order: the status, then 3.0. No state ever had 3.0 without the status.
    await writer.setUpstreamStatus(name, { status: 'archived' }, 'pypi');
    await writer.upsert([wheel(name, '3.0')]);
    dbB.release();
    await until(() => {
      const p = replica.project(name);
      return (p?.files.length === 2 && p.upstreamStatus?.status === 'archived') || undefined;
    }, 'the notified project to be read again after the full reload');
    await r.drain(dbB);
    await r.settle(dbB);
    expect(
      installs.filter((i) => i.versions.includes('3.0') && i.status !== 'archived'),
      JSON.stringify(installs),
    ).toEqual([]);
    expect(installs.at(-1)).toEqual({ versions: ['1.0', '3.0'], status: 'archived' });
  });

  it("tells the other replicas of a write at its commit, while the writer's own re-read has not ended", async () => {
    const { writer, replica, dbA } = r;
    const name = 'race-commit';
    // The writer's re-read of what it wrote waits before it is sent (its writes go through: they start with INSERT).
    dbA.hold(/^\s*SELECT[\s\S]*pypi_files/, 'before');
    const writing = writer.upsert([wheel(name, '1.0')]);
    try {
      await until(
        () => replica.project(name)?.files.length === 1 || undefined,
        'the replica to hear of the write before the writer returns',
        20_000,
      );
      expect(dbA.held).toBe(1);
    } finally {
      dbA.release();
    }
    await writing;
    expect(writer.project(name)?.files.map((f) => f.version)).toEqual(['1.0']);
    // The same for a status.
    dbA.hold(/^\s*SELECT[\s\S]*pypi_files/, 'before');
    const marking = writer.setUpstreamStatus(name, { status: 'quarantined', reason: 'malware' }, 'pypi');
    try {
      await until(
        () => replica.project(name)?.upstreamStatus?.status === 'quarantined' || undefined,
        'the replica to hear of the status',
        20_000,
      );
      expect(dbA.held).toBe(1);
    } finally {
      dbA.release();
    }
    await marking;
    expect(writer.project(name)?.upstreamStatus).toEqual({ status: 'quarantined', reason: 'malware', upstream: 'pypi' });
  });
});
