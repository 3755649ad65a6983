// The download log on both databases: records wait in a bounded buffer and are written in one
// multi-row statement per batch; a full buffer drops (and counts) instead of waiting; stop()
// writes what is left and refuses later records; the summary groups by view and identity; the
// prune removes only rows older than the cut-off.
import { afterEach, describe, expect, it } from 'vitest';
import { DownloadLog, downloadsOf, insertDownloads, pruneDownloads, type DownloadRecord } from '../../src/audit/downloads.js';
import type { Db } from '../../src/state/db.js';
import { databaseConfig, DB_MODES } from '../support/databases.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const rec = (over: Partial<DownloadRecord> = {}): DownloadRecord => ({
  view: 'team-a',
  ecosystem: 'pypi',
  name: 'demo-pkg',
  version: '1.1',
  sha256: 'a'.repeat(64),
  identity: { oid: 'oid-alice', name: 'Alice' },
  client: '10.0.0.7',
  at: new Date('2026-11-30T10:00:00Z'),
  ...over,
});

describe.each(DB_MODES)('download log on %s', (mode) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function open(): Promise<Db> {
    const cfg = await databaseConfig(mode);
    const db = await openStateDb(cfg.database);
    cleanups.push(cfg.cleanup, () => db.close());
    return db;
  }
  const count = async (db: Db) => Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM download_log'))[0]!.n);

  it('drops and counts what does not fit in the buffer, never waiting; stop() writes the rest', async () => {
    const db = await open();
    const dropped: Array<[number, string]> = [];
    const log = new DownloadLog(db, {
      bufferSize: 3,
      batchSize: 1000,
      flushIntervalMs: 3_600_000,
      onDropped: (n, why) => dropped.push([n, why]),
      log: { error: () => expect.fail('no write should fail') },
    });
    for (let i = 0; i < 5; i++) log.record(rec({ at: new Date(Date.UTC(2026, 10, 30, 10, i)) }));
    expect(dropped).toEqual([
      [1, 'overflow'],
      [1, 'overflow'],
    ]);
    expect(await count(db)).toBe(0);
    await log.stop();
    expect(await count(db)).toBe(3);
    log.record(rec());
    expect(dropped).toHaveLength(3);
    expect(await count(db)).toBe(3);
  });

  it('writes a full batch without waiting for the timer, and summarises by view and identity', async () => {
    const db = await open();
    const log = new DownloadLog(db, {
      bufferSize: 100,
      batchSize: 2,
      flushIntervalMs: 3_600_000,
      onDropped: () => expect.fail('nothing should be dropped'),
      log: { error: () => expect.fail('no write should fail') },
    });
    log.record(rec({ at: new Date('2026-11-30T10:00:00Z') }));
    log.record(rec({ at: new Date('2026-11-30T12:00:00Z'), sha256: 'b'.repeat(64) }));
    await log.flush();
    expect(await count(db)).toBe(2);
    log.record(rec({ view: 'default', identity: null, client: null, at: new Date('2026-11-30T11:00:00Z') }));
    log.record(rec({ name: 'other', at: new Date('2026-11-30T11:00:00Z') }));
    await log.stop();
    expect(await downloadsOf(db, 'pypi', 'demo-pkg', '1.1')).toEqual([
      {
        view: 'team-a',
        identity: { oid: 'oid-alice', name: 'Alice' },
        first: '2026-11-30T10:00:00.000Z',
        last: '2026-11-30T12:00:00.000Z',
        count: 2,
        files: ['a'.repeat(64), 'b'.repeat(64)],
      },
      {
        view: 'default',
        identity: null,
        first: '2026-11-30T11:00:00.000Z',
        last: '2026-11-30T11:00:00.000Z',
        count: 1,
        files: ['a'.repeat(64)],
      },
    ]);
  });

  it('prunes only the rows older than the cut-off', async () => {
    const db = await open();
    await insertDownloads(db, [rec({ at: new Date('2026-08-01T00:00:00Z') }), rec({ at: new Date('2026-11-30T00:00:00Z') })]);
    expect(await pruneDownloads(db, new Date('2026-09-01T00:00:00Z'))).toBe(1);
    expect((await downloadsOf(db, 'pypi', 'demo-pkg', '1.1')).map((d) => d.first)).toEqual(['2026-11-30T00:00:00.000Z']);
  });
});
