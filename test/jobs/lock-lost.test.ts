// The runner when a run's lock is lost (its PostgreSQL connection dropped): the run is told
// (ctx.signal), starts no further part (a composite job's next child), and ends 'failed' with
// code LOCK_LOST, naming the job, whatever it made of the signal — a run that finished anyway
// is not counted as done nor audited, since another run may have overlapped it. Real
// PostgreSQL; the lock connection is ended with pg_terminate_backend.
import { pino } from 'pino';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import type { Job } from '../../src/jobs/types.js';
import { terminateLockHolder } from '../support/advisory-locks.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const silent = pino({ level: 'silent' });

describe('a run whose lock is lost (PostgreSQL)', () => {
  let sl: TestSafelist;
  let runner: JobRunner;

  beforeAll(async () => {
    sl = await startTestSafelist({ db: 'pg' });
    runner = new JobRunner({ runtime: sl.runtime, config: sl.config, log: silent });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  /** A job that runs until the test lets it go, then finishes whatever its signal says, and one to follow it. */
  function jobs(name: string) {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let started = false;
    const childRan: string[] = [];
    const child: Job<object, string> = {
      name: `${name}:child`,
      lock: `${name}:child`,
      params: z.strictObject({}),
      run: async () => (childRan.push('ran'), 'child done'),
    };
    const job: Job<object, { n: number; child?: unknown }> = {
      name,
      lock: name,
      params: z.strictObject({}),
      run: async ({ run }) => {
        started = true;
        await released; // ignores its signal: finishes its work as if nothing happened
        return { n: 1, child: await run(child, {}) };
      },
      audit: () => ({ action: 'test.lock-lost', subject: name, detail: {} }),
    };
    return { job, release, started: () => started || undefined, childRan };
  }

  it('fails the run with LOCK_LOST even when the job finished anyway, starts no further part and audits nothing', async () => {
    const { job, release, started, childRan } = jobs('test:lost-run');
    const outcome = runner.run(job, {});
    await until(started, 'the run to start');
    await terminateLockHolder(sl.runtime.db, 'test:lost-run');
    release();
    const o = await outcome;
    expect(o).toMatchObject({ status: 'failed', code: 'LOCK_LOST' });
    expect(o.status === 'failed' && o.error).toMatch(
      /^test:lost-run lost its lock: database connection dropped \(terminating connection due to administrator command\); run it again$/,
    );
    expect(childRan).toEqual([]);
    expect(await sl.runtime.audit.query({ action: 'test.lock-lost' })).toEqual([]);
    const [run] = await runner.runs.latest(['test:lost-run']);
    expect(run).toMatchObject({ status: 'failed', error: expect.stringContaining('lost its lock') });
  });

  it('runs the next job on a new lock connection, as before', async () => {
    const { job, release } = jobs('test:after-loss');
    const outcome = runner.run(job, {});
    release();
    expect(await outcome).toEqual({ status: 'done', result: { n: 1, child: { status: 'done', result: 'child done' } } });
    expect(await sl.runtime.audit.query({ action: 'test.lock-lost' })).toHaveLength(1);
  });
});
