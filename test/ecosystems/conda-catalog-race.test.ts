// The conda catalog under the races the OCI catalog met (oci-catalog-race.test.ts), between two
// replicas: a subdir is read in pages (RELOAD_ROWS), all in one snapshot, so a replica never
// installs a write half seen (a record past the first page without its partner before it); and
// the conda sync tells the other replicas of a subdir's records at the COMMIT that writes them,
// not after its own re-read (a crash there would leave them stale until their next full reload).
// On PostgreSQL only: PGlite has one connection, which a snapshot's transaction keeps to itself,
// so no commit can come between its pages (and a read held inside it would hold every statement).
// Waits are bounded polls on outcomes, never on time.
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CondaCatalog, type CondaPackage } from '../../src/ecosystems/conda/catalog.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { runCondaSync } from '../../src/ecosystems/conda/sync.js';
import { catalogReplicas, type CatalogReplicas } from '../support/catalog-replicas.js';
import { buildCondaPackage, serveChannel, writeChannel, type BuiltCondaPackage, type ChannelServer } from '../support/conda-channel.js';
import { heldDb } from '../support/held-db.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function record(subdir: string, filename: string): CondaPackage {
  const name = filename.split('-')[0]!;
  return {
    channel: 'conda-forge',
    subdir,
    filename,
    name,
    version: '1.0',
    build: 'h0_0',
    sha256: sha(filename),
    md5: null,
    size: 1000,
    record: JSON.stringify({ name, version: '1.0', build: 'h0_0', depends: [] }),
    stored: false,
    source: 'conda-forge',
    sourceUrl: null,
    uploadTime: null,
    indexedAt: null,
  };
}

describe('conda catalog races between replicas on pg', () => {
  let r: CatalogReplicas<CondaCatalog>;

  beforeAll(async () => {
    r = await catalogReplicas('pg', (db, reloads) => new CondaCatalog(db, reloads));
  });

  afterAll(async () => {
    await r?.close();
  });

  it('a replica never installs a write half seen, whatever commits between the pages of its read', async () => {
    const { writer, replica, dbB } = r;
    const subdir = 'linux-64';
    // More records than one page (5,000 rows, in file name order): "m-…" fill the first page.
    await writer.upsert(Array.from({ length: 5000 }, (_, i) => record(subdir, `m-${String(i).padStart(4, '0')}-1.0-h0_0.conda`)));
    await r.drain(dbB);
    await r.settle(dbB);
    expect(replica.subdir('conda-forge', subdir)?.packages.size).toBe(5000);
    const installs: Array<{ early: boolean; late: boolean }> = [];
    replica.onChange((channel, s) => {
      const packages = replica.subdir(channel, s)?.packages;
      if (s === subdir) installs.push({ early: !!packages?.has('a-1.0-h0_0.conda'), late: !!packages?.has('z-1.0-h0_0.conda') });
    });
    // The replica's read has its first page answered, and waits before it reads the next.
    dbB.hold(/FROM conda_packages WHERE channel/, 'after');
    const reading = replica.reload('conda-forge', subdir);
    await r.heldWithNothingRunning(dbB, "the replica's first page");
    dbB.stopHolding();
    // One commit: one record before the first page's last, one after it.
    await writer.upsert([record(subdir, 'a-1.0-h0_0.conda'), record(subdir, 'z-1.0-h0_0.conda')]);
    dbB.release();
    await reading;
    await r.drain(dbB);
    await r.settle(dbB);
    expect(
      installs.filter((i) => i.early !== i.late),
      JSON.stringify(installs),
    ).toEqual([]);
    expect(installs.at(-1)).toEqual({ early: true, late: true });
    expect(replica.subdir('conda-forge', subdir)?.packages.size).toBe(5002);
  });
});

describe('conda sync tells the replicas at commit, on pg', () => {
  let upstream: ChannelServer;
  let sl: TestSafelist;
  let pkg: BuiltCondaPackage;

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'safelist-conda-race-'));
    pkg = await buildCondaPackage(join(root, 'build'), { name: 'raceutil', version: '1.0', subdir: 'noarch' });
    await writeChannel(join(root, 'conda-forge'), [pkg]);
    upstream = await serveChannel(root);
    const channels = [{ name: 'conda-forge', url: `${upstream.url}/conda-forge`, subdirs: ['linux-64'] }];
    sl = await startTestSafelist({
      db: 'pg',
      condaAllowlist: 'channels:\n  conda-forge:\n    - raceutil\n',
      condaChannels: channels.map((c) => ({ ...c, alias: [], anacondaTermsAccepted: false })),
      extra: { conda: { gzip: false, channels } },
    });
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
  });

  it("the other replicas hear of a subdir's records while the sync's own re-read has not ended", async () => {
    // The sync runs on a replica of its own (its catalog on a HeldDb); the server's catalog is the other one.
    const dbA = heldDb(sl.runtime.db);
    const writer = new CondaCatalog(dbA);
    await writer.open();
    const replica = openedConda(sl.runtime).catalog;
    try {
      // The sync's re-read of what it wrote waits before it is sent (its writes go through: they start with INSERT).
      dbA.hold(/^\s*SELECT[\s\S]*FROM conda_packages WHERE channel/, 'before');
      const syncing = runCondaSync({
        config: sl.config,
        policy: sl.runtime.policies.policy,
        catalog: writer,
        store: sl.runtime.store,
        db: dbA,
      });
      try {
        await until(
          () => replica.subdir('conda-forge', 'noarch')?.packages.has(pkg.filename) || undefined,
          'the replica to hear of noarch',
          20_000,
        );
        expect(dbA.held).toBe(1);
      } finally {
        dbA.release();
      }
      const report = await syncing;
      expect(report.failed).toEqual([]);
      expect(report.downloaded).toBe(1);
      expect(writer.subdir('conda-forge', 'noarch')?.packages.get(pkg.filename)?.stored).toBe(true);
      await until(
        () => replica.subdir('conda-forge', 'noarch')?.packages.get(pkg.filename)?.stored || undefined,
        'the replica to hear of the stored file',
      );
    } finally {
      dbA.release();
      await writer.close();
    }
  });
});
