// The gate's lease is a fence: a worker whose lease ran out, and whose image another replica has
// claimed since, records no verdict and reschedules nothing. Only the current holder decides,
// so an image never gets two verdicts (nor two purges) when a pass outlasts its lease.
import { afterEach, describe, expect, it } from 'vitest';
import { GateStore } from '../../src/gate/store.js';
import type { Verdict } from '../../src/gate/types.js';
import type { Db } from '../../src/state/db.js';
import { DB_MODES, databaseConfig } from '../support/databases.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function verdict(outcome: Verdict['outcome']): Verdict {
  return {
    outcome,
    registry: 'acr',
    repository: 'team/app',
    digest: DIGEST,
    reportOnly: false,
    failures: [],
    exempted: [],
    reported: [],
    reasons: [`judged ${outcome}`],
    decidedAt: new Date().toISOString(),
  };
}

describe.each(DB_MODES)('gate lease on %s', (mode) => {
  const opened: Array<{ db: Db; cleanup(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) {
      await o.db.close();
      await o.cleanup();
    }
  });

  it('lets only the replica holding the current lease record a verdict or a wait', async () => {
    const cfg = await databaseConfig(mode);
    const db = await openStateDb(cfg.database);
    opened.push({ db, cleanup: cfg.cleanup });
    const store = new GateStore(db, 60_000);
    await store.recordPushes('acr', 'acr', [{ id: 'push-1', host: 'acr.example', repository: 'team/app', digest: DIGEST }], 'test');

    const [first] = await store.claimDue(10, 1); // a 1 ms lease: it runs out at once
    expect(first?.digest).toBe(DIGEST);
    await new Promise((r) => setTimeout(r, 20));
    const [second] = await store.claimDue(10, 60_000); // another replica takes the image over
    expect(second?.digest).toBe(DIGEST);

    // The first worker comes back late: nothing it says is recorded.
    expect(await store.decide(verdict('pass'), first!)).toBe(false);
    expect(await store.wait(first!, 60_000, 'late')).toBe(false);
    expect((await store.byDigest(DIGEST))?.state).toBe('queued');

    // The holder of the current lease decides, once.
    expect(await store.decide(verdict('fail'), second!)).toBe(true);
    const row = await store.byDigest(DIGEST);
    expect(row?.state).toBe('fail');
    const audit = await db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE action = 'gate.verdict'");
    expect(Number(audit[0]!.n)).toBe(1);
  });
});
