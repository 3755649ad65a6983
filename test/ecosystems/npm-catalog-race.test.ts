// The npm catalog under the races the OCI catalog met (oci-catalog-race.test.ts), between two
// replicas (catalog-replicas.ts): a package's reload reads its meta (dist-tags) and its versions
// in one snapshot, so a replica never installs dist-tags beside versions they were not committed
// with; and a recorded or stored package is told to the other replicas at its COMMIT, not after
// the writer's own re-read (a crash there would leave them stale until their next full reload).
// A full reload (at start, after a reconnect) reads every package in one snapshot as well.
// Both database modes. Waits are bounded polls on outcomes, never on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpmCatalog, type NpmPackageMeta, type NpmVersion } from '../../src/ecosystems/npm/catalog.js';
import { catalogReplicas, type CatalogReplicas } from '../support/catalog-replicas.js';
import { DB_MODES } from '../support/databases.js';
import { until } from '../support/wait.js';

function version(name: string, v: string): NpmVersion {
  return {
    name,
    version: v,
    manifest: JSON.stringify({ name, version: v }),
    integrity: null,
    shasum: null,
    sha512: null,
    sha256: null,
    size: null,
    stored: false,
    source: 'npmjs',
    sourceUrl: null,
    uploadTime: null,
  };
}

/** The upstream's view after `count` releases 1.0.0 … count.0.0: latest is the newest. */
function upstreamView(name: string, count: number): { meta: NpmPackageMeta; versions: NpmVersion[] } {
  const versions = Array.from({ length: count }, (_, i) => version(name, `${i + 1}.0.0`));
  return { meta: { distTags: { latest: `${count}.0.0` }, fields: { description: 'a package' } }, versions };
}

/** What a catalog installed for one package, in order: its latest dist-tag and its versions. */
function installsOf(catalog: NpmCatalog, name: string): Array<{ latest: string | undefined; versions: string[] }> {
  const out: Array<{ latest: string | undefined; versions: string[] }> = [];
  catalog.onChange((n) => {
    if (n !== name) return;
    const p = catalog.package(n);
    out.push({ latest: p?.meta.distTags.latest, versions: p ? [...p.versions.keys()].sort() : [] });
  });
  return out;
}

describe.each(DB_MODES)('npm catalog races between replicas on %s', (mode) => {
  let r: CatalogReplicas<NpmCatalog>;

  beforeAll(async () => {
    r = await catalogReplicas(mode, (db, reloads) => new NpmCatalog(db, reloads));
  });

  afterAll(async () => {
    await r?.close();
  });

  const record = (name: string, count: number) => {
    const { meta, versions } = upstreamView(name, count);
    return r.writer.record(name, 'npmjs', meta, versions);
  };

  it('a replica never installs dist-tags beside versions they were not committed with, whatever commits between its reads', async () => {
    const { replica, dbB } = r;
    const name = 'race-tags';
    const installs = installsOf(replica, name);
    await record(name, 1);
    await r.drain(dbB);
    await r.settle(dbB);
    // The replica's reload of 2.0.0 waits before it reads the versions (or, read in one statement, before it reads anything).
    dbB.hold(/npm_versions/, 'before');
    await record(name, 2);
    await r.heldWithNothingRunning(dbB, "the replica's reload of 2.0.0 to wait before reading the versions");
    dbB.stopHolding();
    await record(name, 3);
    dbB.release();
    await r.drain(dbB);
    await r.settle(dbB);
    // Every commit had latest = its newest version.
    expect(
      installs.filter((i) => i.latest !== i.versions.at(-1)),
      JSON.stringify(installs),
    ).toEqual([]);
    expect(installs.at(-1)).toEqual({ latest: '3.0.0', versions: ['1.0.0', '2.0.0', '3.0.0'] });
  });

  // On PGlite the full reload's transaction keeps its one connection: no commit can come between its reads.
  it.runIf(mode === 'pg')('a full reload reads one snapshot: never dist-tags beside versions they were not committed with', async () => {
    const { replica, dbB } = r;
    const name = 'race-full-reload';
    await record(name, 1);
    await r.drain(dbB);
    await r.settle(dbB);
    const installs = installsOf(replica, name);
    // The replica's full reload waits once it has read the packages' metas, before their versions.
    dbB.hold(/SELECT name, meta FROM npm_packages/, 'after');
    // As at a reconnect: the keys notified while it runs are read again once it ends.
    replica.reloadAllLater();
    await r.heldWithNothingRunning(dbB, "the replica's full reload to have read the metas");
    dbB.stopHolding();
    await record(name, 2);
    dbB.release();
    await until(
      () => replica.package(name)?.versions.has('2.0.0') || undefined,
      'the notified package to be read again after the full reload',
    );
    await r.drain(dbB);
    await r.settle(dbB);
    // Every commit had latest = its newest version.
    expect(
      installs.filter((i) => i.latest !== i.versions.at(-1)),
      JSON.stringify(installs),
    ).toEqual([]);
    expect(installs.at(-1)).toEqual({ latest: '2.0.0', versions: ['1.0.0', '2.0.0'] });
  });

  it("tells the other replicas of a recorded package at its commit, while the writer's own re-read has not ended", async () => {
    const { writer, replica, dbA } = r;
    const name = 'race-commit';
    // The writer's re-read waits before it is sent (its writes go through: they start with INSERT).
    dbA.hold(/^\s*SELECT[\s\S]*npm_packages/, 'before');
    const writing = record(name, 1);
    try {
      await until(() => replica.package(name)?.versions.has('1.0.0') || undefined, 'the replica to hear of the package', 20_000);
      expect(dbA.held).toBe(1);
    } finally {
      dbA.release();
    }
    await writing;
    expect(writer.package(name)?.meta.distTags.latest).toBe('1.0.0');
    // The same for stored bytes.
    dbA.hold(/^\s*SELECT[\s\S]*npm_packages/, 'before');
    const v = { ...version(name, '1.0.0'), sha256: 'a'.repeat(64), size: 123 };
    const marking = writer.markStored([v]);
    try {
      await until(
        () => replica.package(name)?.versions.get('1.0.0')?.stored || undefined,
        'the replica to hear of the stored version',
        20_000,
      );
      expect(dbA.held).toBe(1);
    } finally {
      dbA.release();
    }
    await marking;
    expect(writer.package(name)?.versions.get('1.0.0')).toMatchObject({ stored: true, sha256: 'a'.repeat(64), size: 123 });
  });
});
