// The one job runner, on both database modes: a run takes the job's lock (a second run at the
// same time is "busy", also from another replica on PostgreSQL), records the generic job
// metrics and the job's own, appends the job's audit record with whoever started it, passes
// on the events of the jobs it runs, and turns a job's failure into an outcome (counted, not
// audited as finished, never thrown).
import { npmConfig } from '../../src/ecosystems/npm/config.js';
import { ociConfig } from '../../src/ecosystems/oci/config.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/http/metrics.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { importJobs } from '../../src/jobs/import.js';
import { syncPlan } from '../../src/jobs/sync.js';
import type { Job, JobEvent } from '../../src/jobs/types.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { until } from '../support/wait.js';

const silent = pino({ level: 'silent' });

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

describe.each(DB_MODES)('job runner on %s', (mode) => {
  let sl: TestSafelist;
  let metrics: Metrics;
  let runner: JobRunner;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-runner-'));
    sl = await startTestSafelist({ db: mode, allowlist: 'packages:\n  - run-pkg\n' });
    metrics = new Metrics({ ecosystems: sl.runtime.ecosystems, db: sl.runtime.db });
    runner = new JobRunner({ runtime: sl.runtime, config: sl.config, log: silent }, metrics);
  });
  afterAll(async () => {
    await sl?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('runs a job under its lock, passes its events on, counts it and audits it with who started it', async () => {
    const dir = join(work, 'wheels');
    const w = await buildWheel(dir, { name: 'run-pkg', version: '1.0' });
    const events: Array<[string, JobEvent]> = [];
    const o = await runner.run(importJobs.get('pypi')!, { dir }, { actor: 'cli:tester', onEvent: (job, e) => events.push([job, e]) });
    expect(o).toMatchObject({ status: 'done', result: { imported: [expect.objectContaining({ filename: w.filename })] } });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every(([job, e]) => job === 'import:pypi' && e.type === 'line')).toBe(true);
    const [record] = await sl.runtime.audit.query({ action: 'import.finished' });
    expect(record).toMatchObject({ actor: 'cli:tester', subject: 'pypi', detail: { imported: 1, skipped: 0, files: [w.filename] } });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'safelist_job_runs_total', { job: 'import:pypi', result: 'ok' })).toBe(1);
    expect(sample(text, 'safelist_job_duration_seconds_count', { job: 'import:pypi' })).toBe(1);
  });

  it('answers busy while another run holds the lock, and fails as a value, counted and not audited', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow: Job<object, { n: number }> = {
      name: 'test:slow',
      lock: 'test:slow',
      params: z.strictObject({}),
      run: async () => (started(), await held, { n: 1 }),
      audit: (r) => ({ action: 'test.finished', subject: 'slow', detail: r }),
    };
    const first = runner.run(slow, {});
    await running;
    // Another runner over another connection: on PostgreSQL another replica would be the same.
    const other = new JobRunner({ runtime: sl.runtime, config: sl.config, log: silent }, metrics);
    expect(await other.run(slow, {})).toEqual({ status: 'busy', lock: 'test:slow' });
    release();
    expect(await first).toEqual({ status: 'done', result: { n: 1 } });
    expect(await sl.runtime.audit.query({ action: 'test.finished' })).toHaveLength(1);

    const broken: Job<object, never> = {
      name: 'test:broken',
      lock: 'test:broken',
      params: z.strictObject({}),
      run: async () => {
        throw new Error('upstream said no');
      },
      audit: () => ({ action: 'test.broken', subject: 'x', detail: {} }),
    };
    expect(await runner.run(broken, {})).toEqual({ status: 'failed', error: 'upstream said no' });
    expect(await sl.runtime.audit.query({ action: 'test.broken' })).toHaveLength(0);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'safelist_job_runs_total', { job: 'test:slow', result: 'busy' })).toBe(1);
    expect(sample(text, 'safelist_job_runs_total', { job: 'test:broken', result: 'error' })).toBe(1);
  });

  it('records each run that got its lock: running with its progress, then its summary or its error', async () => {
    const quick = new JobRunner({ runtime: sl.runtime, config: sl.config, log: silent }, metrics, { heartbeatMs: 50 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const syncLike: Job<object, { downloaded: number; failed: Array<{ filename: string; error: string }> }> = {
      name: 'test:records',
      lock: 'test:records',
      params: z.strictObject({}),
      run: async ({ emit }) => {
        emit({ type: 'project', name: 'alpha', index: 1, total: 3 });
        emit({ type: 'fetched', filename: 'alpha-1.0.whl', size: 10, written: true });
        emit({ type: 'failed', filename: 'alpha-1.1.whl', error: 'upstream answered 500' });
        await held;
        return { downloaded: 1, failed: [{ filename: 'alpha-1.1.whl', error: 'upstream answered 500' }] };
      },
    };
    const done = quick.run(syncLike, {}, { actor: 'cli:tester' });
    // While it runs, its progress reaches the table within a heartbeat or two.
    let running: Awaited<ReturnType<typeof quick.runs.latest>>[number] | undefined;
    await until(async () => {
      [running] = await quick.runs.latest(['test:records']);
      return running?.progress.events.failed === 1;
    }, 'the running run shows its progress');
    expect(running).toMatchObject({
      status: 'running',
      actor: 'cli:tester',
      finishedAt: null,
      progress: {
        index: 1,
        total: 3,
        current: 'alpha',
        events: { project: 1, fetched: 1, failed: 1 },
        lastFailure: { what: 'alpha-1.1.whl' },
      },
    });
    release();
    await done;
    const [finished] = await quick.runs.latest(['test:records']);
    expect(finished).toMatchObject({
      status: 'done',
      summary: { counts: { downloaded: 1 }, failedCount: 1, failures: [{ what: 'alpha-1.1.whl', error: 'upstream answered 500' }] },
      error: null,
    });
    expect(finished!.finishedAt).not.toBeNull();

    const [broken] = await quick.runs.latest(['test:broken']);
    expect(broken).toMatchObject({ status: 'failed', error: 'upstream said no', summary: null });
    // A busy run never had the lock: it is not a run of the job.
    expect((await quick.runs.latest(['test:slow'])).map((r) => r.status)).toEqual(['done']);
  });

  it('streams the events and outcomes of the jobs a job runs', async () => {
    const child: Job<object, { ok: boolean }> = {
      name: 'test:child',
      lock: 'test:child',
      params: z.strictObject({}),
      run: async ({ emit }) => (emit({ type: 'warning', message: 'from the child' }), { ok: true }),
    };
    const parent: Job<object, unknown> = {
      name: 'test:parent',
      lock: 'test:parent',
      params: z.strictObject({}),
      run: ({ run }) => run(child, {}),
    };
    const events: Array<[string, string]> = [];
    await runner.run(parent, {}, { onEvent: (job, e) => events.push([job, e.type]) });
    expect(events).toEqual([
      ['test:child', 'warning'],
      ['test:child', 'finished'],
    ]);
  });
});

describe('the one rule for which ecosystems a sync covers', () => {
  it('PyPI always, conda when a conda rule exists, OCI when upstreams are configured, npm when both', async () => {
    const sl = await startTestSafelist({ allowlist: 'packages:\n  - a\n' });
    try {
      expect(syncPlan(sl.config, sl.runtime.policies.policy, 'default')).toEqual(['pypi']);
      await sl.setCondaAllowlist('channels:\n  conda-forge:\n    - numpy\n');
      expect(syncPlan(sl.config, sl.runtime.policies.policy, 'default')).toEqual(['pypi', 'conda']);
      const withOci = ociConfig.with(sl.config, {
        ...ociConfig.of(sl.config),
        upstreams: [{ name: 'mcr', url: 'https://mcr.microsoft.com' }],
      });
      expect(syncPlan(withOci, sl.runtime.policies.policy, 'default')).toEqual(['pypi', 'conda', 'oci']);
      expect(syncPlan(sl.config, sl.runtime.policies.policy, 'oci')).toEqual(['oci']);
      expect(syncPlan(sl.config, sl.runtime.policies.policy, 'all')).toEqual(['pypi', 'conda', 'oci', 'npm']);
      // npm: when an upstream registry is configured and some rule names an npm package.
      const withNpm = npmConfig.with(withOci, {
        ...npmConfig.of(sl.config),
        upstreams: [{ name: 'npmjs', url: 'https://registry.npmjs.org/' }],
      });
      expect(syncPlan(withNpm, sl.runtime.policies.policy, 'default')).toEqual(['pypi', 'conda', 'oci']);
      await writeFile(join(sl.dir, 'allowlists', 'npm.yaml'), 'packages:\n  - left-pad@^1.3.0\n');
      await sl.runtime.policies.reload();
      expect(syncPlan(withNpm, sl.runtime.policies.policy, 'default')).toEqual(['pypi', 'conda', 'oci', 'npm']);
      expect(syncPlan(sl.config, sl.runtime.policies.policy, 'default')).toEqual(['pypi', 'conda']);
    } finally {
      await sl.stop();
    }
  });
});
