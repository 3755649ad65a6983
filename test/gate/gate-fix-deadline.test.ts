// The fixDeadline clock at the worker and store: the first time the gate sees a finding (id,
// package, fixed version) as fixable is recorded once in the database, and every later image
// with that finding, and the gate after a restart, counts from that same moment. Real worker
// and store on PGlite (a data directory, closed and reopened) and on a PostgreSQL server; the
// registry and the scan provider are stand-ins, since only the clock is under test here.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateSchema } from '../../src/config/schema.js';
import { GateStore } from '../../src/gate/store.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../../src/gate/types.js';
import { GateWorker } from '../../src/gate/worker.js';
import type { GateRegistry, RegistryClient } from '../../src/gate/registry.js';
import type { Db, OpenDbOptions } from '../../src/state/db.js';
import { createPgDatabase, DB_MODES, seededPglite } from '../support/databases.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const finding = (extra: Partial<Finding> = {}): Finding => ({
  id: 'CVE-2026-1000',
  severity: 'medium',
  package: 'libfoo',
  installedVersion: '2.3.0',
  fixedVersion: '2.3.1',
  fixable: true,
  source: 'trivy',
  publishedAt: '2026-01-01T00:00:00Z',
  ...extra,
});

/** A provider that reports the same findings for every image. */
class FixedProvider implements ScanProvider {
  readonly name = 'fixed';
  constructor(public findings: Finding[]) {}
  async scan(images: ImageRef[]): Promise<Map<string, ScanResult>> {
    return new Map(images.map((i) => [i.digest, { state: 'scanned', findings: this.findings, source: 'fixed' }]));
  }
}

describe.each(DB_MODES)('fixDeadline: first sighting of a fix, kept across images and restarts (%s)', (mode) => {
  let dir: string;
  let opts: Omit<OpenDbOptions, 'migrations'>;
  let drop: (() => Promise<void>) | undefined;
  let db: Db;
  const provider = new FixedProvider([
    finding(),
    finding({ id: 'CVE-2026-2000', fixedVersion: undefined, fixable: false }),
    finding({ id: 'not-allowed:pypi:x==1', breach: 'x is not allowed' }),
  ]);
  // The registry answers every manifest read: the worker only needs the image to exist.
  const registry: GateRegistry = {
    name: 'acr',
    host: 'acr.example',
    client: { manifest: async () => ({}) } as unknown as RegistryClient,
    blocks: false,
  };

  const worker = (store: GateStore) =>
    new GateWorker({
      config: gateSchema.parse({ registries: [{ name: 'acr', url: 'https://acr.example' }], purge: false }),
      store,
      registries: [registry],
      providers: [provider],
      policyPath: join(dir, 'containers.yaml'),
      notifier: { post: () => undefined },
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
  const judge = async (d: string) => {
    const store = new GateStore(db, 60_000);
    await store.recordPushes(
      'acr',
      'acr',
      [{ id: `push-${d}-${Math.random()}`, host: 'acr.example', repository: 'team/app', digest: d }],
      'test',
    );
    expect(await worker(store).pass()).toBe(1);
    return (await store.byDigest(d))!;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-fix-seen-'));
    if (mode === 'pg') {
      const pg = await createPgDatabase();
      drop = pg.drop;
      opts = { url: pg.url, pglitePath: 'memory://' };
    } else opts = seededPglite(join(dir, 'pglite'));
    await writeFile(join(dir, 'containers.yaml'), 'severity: critical\nfixDeadline: 30d\n');
    db = await openStateDb(opts);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records the first sighting once, and dates later images and a restarted gate from it', async () => {
    const first = await judge(digest('1'));
    expect(first.verdict!.failures.map((f) => f.finding.id)).toEqual(['not-allowed:pypi:x==1']);
    const seen = await db.query<{ vuln_id: string; package: string; fixed_version: string; first_seen: Date | string }>(
      'SELECT * FROM gate_fix_seen',
    );
    // Only the fixable vulnerability: not the unfixed one, nor the curated-contents breach.
    expect(seen.map((r) => [r.vuln_id, r.package, r.fixed_version])).toEqual([['CVE-2026-1000', 'libfoo', '2.3.1']]);
    const firstSeen = new Date(seen[0]!.first_seen).toISOString();
    expect(first.verdict!.reported.find((r) => r.finding.id === 'CVE-2026-1000')).toMatchObject({
      finding: { fixSeenAt: firstSeen },
      note: expect.stringMatching(/first seen by the gate\); fails after \d{4}-\d\d-\d\d \(fixDeadline 30d\)$/),
    });

    // Another image with the same finding, after a restart: the clock does not start again.
    await db.close();
    db = await openStateDb(opts);
    const second = await judge(digest('2'));
    expect(second.verdict!.reported.find((r) => r.finding.id === 'CVE-2026-1000')!.finding.fixSeenAt).toBe(firstSeen);
    expect(await db.query('SELECT * FROM gate_fix_seen')).toHaveLength(1);

    // Forty days on (moved back in the database): the next image with it fails on the deadline.
    await db.query("UPDATE gate_fix_seen SET first_seen = now() - interval '40 days'");
    const third = await judge(digest('3'));
    expect(third.state).toBe('fail');
    expect(third.verdict!.failures.map((f) => [f.finding.id, f.rule])).toEqual([
      [
        'CVE-2026-1000',
        expect.stringMatching(/^fix 2\.3\.1 available since \d{4}-\d\d-\d\d \(first seen by the gate\), more than fixDeadline 30d ago$/),
      ],
      ['not-allowed:pypi:x==1', 'x is not allowed'],
    ]);

    // A different fixed version of the same advisory is a new fix, with its own clock.
    provider.findings = [finding({ fixedVersion: '2.4.0' })];
    const fourth = await judge(digest('4'));
    expect(fourth.state).toBe('pass');
    expect(await db.query('SELECT * FROM gate_fix_seen')).toHaveLength(2);
  });
});
