// The audit:verify job on both database modes: it checks the whole chain and every anchor,
// streams how many records it has checked, and its run record (job_runs) keeps the verdict —
// intact, or the first broken record and why — for the console to read back. A record changed
// behind the database's back is found. The API starts it for auditors as well as admins (and
// nobody else), and only one verification runs at a time.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditVerifyJob } from '../../src/jobs/maintenance.js';
import { JobRunner } from '../../src/jobs/runner.js';
import type { JobEvent, JobStreamLine } from '../../src/jobs/types.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const silent = pino({ level: 'silent' });
const TOKENS = { auditor: 'verify-auditor-token-0123456789', requester: 'verify-requester-token-0123456789' };

describe.each(DB_MODES)('audit:verify job on %s', (mode) => {
  let sl: TestSafelist;
  let runner: JobRunner;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db: mode,
      extra: {
        audit: { anchorSchedule: '', verifySchedule: '' },
        auth: {
          tokens: [
            { id: 'oid-audrey', name: 'Audrey', token: TOKENS.auditor, roles: ['auditor'] },
            { id: 'oid-rita', name: 'Rita', token: TOKENS.requester, roles: ['requester'] },
          ],
        },
      },
    });
    runner = new JobRunner({ runtime: sl.runtime, config: sl.config, log: silent });
    for (let i = 1; i <= 1200; i++)
      await sl.runtime.audit.append({ actor: `user-${i % 7}`, action: 'exception.requested', subject: `EXC-${i}`, detail: { i } });
    await sl.runtime.audit.anchor();
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('verifies an intact chain, streaming records checked of the total, and records the verdict in its run', async () => {
    const events: JobEvent[] = [];
    const o = await runner.run(auditVerifyJob, {}, { actor: 'oid-audrey', onEvent: (_job, e) => events.push(e) });
    expect(o.status).toBe('done');
    const result = (o as { result: { ok: boolean; records: number; anchors: number; failed: unknown[] } }).result;
    expect(result).toMatchObject({ ok: true, anchors: 1, failed: [] });
    expect(result.records).toBeGreaterThanOrEqual(1200);
    const checked = events.filter((e) => e.type === 'checked');
    expect(checked[0]).toMatchObject({ index: 0, total: result.records });
    expect(checked.some((e) => e.index === 1000)).toBe(true);
    expect(checked.at(-1)).toMatchObject({ index: result.records, total: result.records });

    const [run] = await runner.runs.latest(['audit:verify'], 1);
    expect(run).toMatchObject({ job: 'audit:verify', actor: 'oid-audrey', status: 'done', error: null });
    expect(run!.summary).toMatchObject({ counts: { records: result.records, anchors: 1 }, failedCount: 0, failures: [] });
    expect(run!.progress).toMatchObject({ index: result.records, total: result.records });
    const [audited] = await sl.runtime.audit.query({ action: 'audit.verified', newestFirst: true, limit: 1 });
    expect(audited).toMatchObject({ actor: 'oid-audrey', subject: 'audit_log', detail: { ok: true, problems: 0 } });
  });

  it('finds a record changed behind the database, and its run names the first break and why', async () => {
    const db = sl.runtime.db;
    const [target] = await sl.runtime.audit.query({ subject: 'EXC-700' });
    const seq = target!.seq;
    await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
    await db.query(`UPDATE audit_log SET detail = '{"i": -1}'::jsonb WHERE seq = $1`, [seq]);
    await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
    const o = await runner.run(auditVerifyJob, {}, { actor: 'system' });
    expect(o).toMatchObject({ status: 'done', result: { ok: false, failed: [{ seq, kind: 'changed' }] } });

    const [run] = await runner.runs.latest(['audit:verify'], 1);
    expect(run).toMatchObject({ actor: 'system', status: 'done' });
    expect(run!.summary!.failedCount).toBe(1);
    expect(run!.summary!.failures[0]!.what).toBe(`record ${seq} (changed)`);
    expect(run!.summary!.failures[0]!.error).toBe(
      `record ${seq} (exception.requested EXC-700 by user-0) was changed after it was written: its content no longer matches its hash`,
    );
    const [audited] = await sl.runtime.audit.query({ action: 'audit.verified', newestFirst: true, limit: 1 });
    expect(audited!.detail).toMatchObject({ ok: false, problems: 1, first: { seq, kind: 'changed' } });
  });

  it('answers busy while another verification holds its lock', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const holder = sl.runtime.db.tryWithLock(auditVerifyJob.lock, async () => (locked(), await held, true));
    await holding;
    try {
      expect(await runner.run(auditVerifyJob, {})).toEqual({ status: 'busy', lock: 'audit:verify' });
    } finally {
      release();
    }
    expect(await holder).toBe(true);
  });

  it('is started through the API by an auditor (NDJSON progress, then the outcome); a requester, or an auditor on another job, is refused', async () => {
    const post = (token: string, job: string) =>
      fetch(`${sl.url}/api/v1/jobs/${job}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
    const res = await post(TOKENS.auditor, 'audit:verify');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JobStreamLine);
    expect(lines[0]).toMatchObject({ job: 'audit:verify', event: { type: 'checked', index: 0 } });
    expect(lines.at(-1)).toMatchObject({ job: 'audit:verify', outcome: { status: 'done', result: { ok: false } } });
    const [run] = await runner.runs.latest(['audit:verify'], 1);
    expect(run).toMatchObject({ actor: 'oid-audrey', status: 'done' });

    expect((await post(TOKENS.requester, 'audit:verify')).status).toBe(403);
    expect((await post(TOKENS.auditor, 'audit:anchor')).status).toBe(403);
  });
});
