// The hash-chained audit log on both database modes: appends from many callers at once form
// one gap-free chain; the database refuses UPDATE/DELETE; and every kind of tampering by
// someone who gets past that (a changed, removed or reordered record, a rewritten table, a
// truncated tail) makes verify fail and name the record.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, GENESIS, recordHash } from '../../src/audit/log.js';
import type { Db } from '../../src/state/db.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { DB_MODES, databaseConfig } from '../support/databases.js';
import { openStateDb } from '../../src/ecosystems/index.js';

describe.each(DB_MODES)('audit log on %s', (mode) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(): Promise<{ db: Db; log: AuditLog }> {
    const cfg = await databaseConfig(mode);
    const db = await openStateDb(cfg.database);
    const store = new FsBlobStore(await mkdtemp(join(tmpdir(), 'safelist-audit-')));
    cleanups.push(cfg.cleanup, () => db.close());
    return { db, log: new AuditLog(db, store) };
  }

  async function seed(log: AuditLog, n: number) {
    for (let i = 1; i <= n; i++)
      await log.append({
        actor: `user-${i % 3}`,
        action: 'exception.requested',
        subject: `EXC-${i}`,
        detail: { package: `pkg-${i}`, n: i, nested: { b: 1, a: [i, 'x'] } },
      });
  }

  /** Runs SQL that the append-only triggers would refuse, as a tampering administrator could. */
  async function tamper(db: Db, sql: string, params: unknown[] = []) {
    await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
    await db.query(sql, params);
    await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
  }

  it('chains concurrent appends into one gap-free log that verifies', async () => {
    const { log } = await open();
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => log.append({ actor: 'svc', action: 'sync.finished', subject: `run-${i}`, detail: { i } })),
    );
    const all = await log.query({ limit: 1000 });
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(all[0]!.prevHash).toBe(GENESIS);
    for (let i = 1; i < all.length; i++) expect(all[i]!.prevHash).toBe(all[i - 1]!.hash);
    const report = await log.verify();
    expect(report).toMatchObject({ ok: true, records: 25, problems: [] });
    expect(report.head).toEqual({ seq: 25, hash: all[24]!.hash });
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database', async () => {
    const { db, log } = await open();
    await seed(log, 2);
    await expect(db.query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_log WHERE seq = 2')).rejects.toThrow(/append-only/);
    await expect(db.exec('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect((await log.verify()).ok).toBe(true);
  });

  it('names a changed record', async () => {
    const { db, log } = await open();
    await seed(log, 5);
    await tamper(db, `UPDATE audit_log SET detail = jsonb_set(detail, '{package}', '"evil"') WHERE seq = 3`);
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ seq: 3, kind: 'changed' })]);
    expect(r.problems[0]!.message).toMatch(/record 3 \(exception\.requested EXC-3 by user-0\) was changed/);
  });

  it('names a removed record', async () => {
    const { db, log } = await open();
    await seed(log, 5);
    await tamper(db, 'DELETE FROM audit_log WHERE seq = 2');
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.seq, p.kind])).toEqual([
      [2, 'missing'],
      [3, 'broken-link'],
    ]);
  });

  it('detects reordered records', async () => {
    const { db, log } = await open();
    await seed(log, 4);
    // Swap everything but the sequence numbers of records 2 and 3.
    await tamper(
      db,
      `UPDATE audit_log a SET at = b.at, actor = b.actor, action = b.action, subject = b.subject, detail = b.detail, prev_hash = b.prev_hash, hash = b.hash
                      FROM audit_log b WHERE (a.seq, b.seq) IN ((2, 3), (3, 2))`,
    );
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.seq)).toContain(2);
  });

  it('detects a whole table rewritten into a new consistent chain, through the anchors', async () => {
    const { db, log } = await open();
    await seed(log, 3);
    expect(await log.anchor()).toMatchObject({ seq: 3 });
    expect(await log.anchor()).toBeUndefined(); // nothing new to anchor
    await seed(log, 1);
    // Rewrite record 2 and re-chain everything after it, as a careful attacker would.
    const rows = await log.query({ limit: 1000 });
    await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
    let prev = GENESIS;
    for (const r of rows) {
      const detail = r.seq === 2 ? { ...r.detail, package: 'evil' } : r.detail;
      const hash = recordHash(prev, { ...r, detail });
      await db.query('UPDATE audit_log SET detail = $1::jsonb, prev_hash = $2, hash = $3 WHERE seq = $4', [
        JSON.stringify(detail),
        prev,
        hash,
        r.seq,
      ]);
      prev = hash;
    }
    await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ seq: 3, kind: 'anchor-mismatch' })]);
  });

  it('detects records removed from the end after they were anchored', async () => {
    const { db, log } = await open();
    await seed(log, 4);
    await log.anchor();
    await tamper(db, 'DELETE FROM audit_log WHERE seq >= 3');
    const r = await log.verify();
    expect(r.problems).toEqual([expect.objectContaining({ seq: 4, kind: 'truncated' })]);
  });

  it('filters and pages records for the API and export', async () => {
    const { log } = await open();
    await seed(log, 7);
    expect((await log.query({ actor: 'user-1' })).map((r) => r.seq)).toEqual([1, 4, 7]);
    expect((await log.query({ subject: 'EXC-5' }))[0]!.detail).toEqual({ package: 'pkg-5', n: 5, nested: { a: [5, 'x'], b: 1 } });
    expect((await log.query({ afterSeq: 5 })).map((r) => r.seq)).toEqual([6, 7]);
    const all: number[] = [];
    for await (const r of log.records()) all.push(r.seq);
    expect(all).toHaveLength(7);
  });
});

describe('audit records written by the server', () => {
  it('records each policy change a replica loads and each sync run', async () => {
    const { startTestSafelist } = await import('../support/safelist.js');
    const sl = await startTestSafelist({ allowlist: 'packages:\n  - one\n' });
    try {
      await sl.setAllowlist('packages:\n  - one\n  - two\n');
      await sl.syncNow();
      // The policy record is appended just after the change event: wait for it, boundedly.
      let actions: string[] = [];
      for (let i = 0; i < 50 && !(actions.includes('policy.reloaded') && actions.includes('sync.finished')); i++) {
        actions = (await sl.runtime.audit.query()).map((r) => r.action);
        if (!actions.includes('policy.reloaded')) await new Promise((r) => setTimeout(r, 100));
      }
      expect(actions).toContain('policy.reloaded');
      expect(actions).toContain('sync.finished');
      expect((await sl.runtime.audit.verify()).ok).toBe(true);
    } finally {
      await sl.stop();
    }
  });
});
