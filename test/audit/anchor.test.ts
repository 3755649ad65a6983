// The audit head is anchored right after each decision and at shutdown, not only every 10
// minutes, so the records that matter cannot be dropped or rewritten unnoticed:
// - AnchorScheduler coalesces a burst of requests into one anchor, and waits out a busy
//   'audit:anchor' lock (another replica anchoring) instead of dropping the request;
// - an exception approved through the API of a running server (PostgreSQL), then the decision
//   record rewritten into a valid chain or deleted as a database superuser would: the real
//   `safelist audit verify`, beside the server, exits 1 naming it;
// - `safelist serve` on the embedded database stopped with SIGTERM anchors its tail: deleting
//   the last record afterwards is found by `safelist audit verify`.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AnchorScheduler, ANCHOR_LOCK } from '../../src/audit/anchor.js';
import { AuditLog, recordHash } from '../../src/audit/log.js';
import type { Db } from '../../src/state/db.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { cli, cliArgv, ROOT } from '../support/cli.js';
import { createPgDatabase, DB_MODES, databaseConfig, seededPgliteYaml } from '../support/databases.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { startTestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const REQUESTER = 'requester-token-0123456789abcdef';
const APPROVER = 'approver-token-0123456789abcdef';
const tokens = [
  { id: 'alice', token: REQUESTER, roles: ['requester'] },
  { id: 'bob', token: APPROVER, roles: ['approver'], views: ['*'] },
];
const log = pino({ level: 'silent' });

/** SQL the append-only triggers would refuse, as a database superuser can still run it. */
async function tamper(db: Db, sql: string, params: unknown[] = []) {
  await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
  await db.query(sql, params);
  await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(DB_MODES)('AnchorScheduler on %s', (mode) => {
  async function open() {
    const cfg = await databaseConfig(mode);
    const db = await openStateDb(cfg.database);
    const dir = await mkdtemp(join(tmpdir(), 'safelist-anchor-'));
    cleanups.push(
      cfg.cleanup,
      () => db.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    const audit = new AuditLog(db, new FsBlobStore(dir));
    let calls = 0;
    const counted = { anchor: () => (calls++, audit.anchor()) };
    return { db, audit, counted, calls: () => calls };
  }

  it('anchors a burst of decisions once, covering the last of them', async () => {
    const { db, audit, counted, calls } = await open();
    const anchors = new AnchorScheduler({ db, audit: counted, log, delayMs: 50 });
    // Ten decisions committed, each asking for an anchor, before the first anchor runs.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => audit.append({ actor: 'oid-bob', action: 'exception.approved', subject: `EXC-${i}` })),
    );
    for (let i = 0; i < 10; i++) anchors.soon();
    const [a] = await until(async () => ((await audit.anchors()).length ? audit.anchors() : undefined), 'the anchor');
    expect(a).toMatchObject({ seq: 10, hash: (await audit.head())!.hash });
    expect(calls()).toBe(1);
    expect(await anchors.flush()).toBe(true); // nothing new: no second line
    expect(await audit.anchors()).toHaveLength(1);
  });

  it('waits while another replica holds the anchor lock, then anchors its own head', async () => {
    const { db, audit, counted, calls } = await open();
    const tried: string[] = [];
    const lockSeen = {
      tryWithLock: <T>(name: string, fn: (lost: AbortSignal) => Promise<T>) =>
        db.tryWithLock(name, fn).then((r) => (tried.push(r === undefined ? 'busy' : 'ran'), r)),
    };
    const anchors = new AnchorScheduler({ db: lockSeen, audit: counted, log, delayMs: 10, retryMs: 20 });
    let release: (() => void) | undefined;
    const other = db.tryWithLock(ANCHOR_LOCK, () => new Promise<void>((r) => (release = r)));
    await until(() => release, 'the other replica to take the lock');
    await audit.append({ actor: 'system', action: 'gate.verdict', subject: 'local/team/app@sha256:0' });
    anchors.soon();
    await until(() => tried.length >= 2, 'two tries against the busy lock');
    expect(tried.slice(0, 2)).toEqual(['busy', 'busy']);
    expect(calls()).toBe(0);
    release!();
    await other;
    const [a] = await until(
      async () => ((await audit.anchors()).length ? audit.anchors() : undefined),
      'the anchor after the lock was released',
    );
    expect(a!.seq).toBe(1);
  });
});

describe('anchoring a running server', () => {
  const api = async (url: string, token: string, path: string, body: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Record<string, any> };
  };
  const configFile = async (dir: string, database: string, extra = '', anchorStorage?: string) => {
    const file = join(dir, 'safelist.yaml');
    await writeFile(
      file,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${database}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `audit: { anchorSchedule: "", ${anchorStorage ? `anchorStorage: { kind: fs, path: ${anchorStorage} }` : ''} }`, // only decisions and shutdown anchor here
        extra,
        '',
      ].join('\n'),
    );
    return file;
  };

  it('anchors an exception decision at once, in the anchor store: rewriting or deleting it is found by `safelist audit verify` beside the server (PostgreSQL)', async () => {
    const pgdb = await createPgDatabase();
    cleanups.push(() => pgdb.drop());
    const anchorDir = await mkdtemp(join(tmpdir(), 'safelist-anchors-'));
    cleanups.push(() => rm(anchorDir, { recursive: true, force: true }));
    const sl = await startTestSafelist({
      databaseUrl: pgdb.url,
      extra: { auth: { tokens }, audit: { anchorSchedule: '', anchorStorage: { kind: 'fs', path: anchorDir } } },
    });
    cleanups.push(() => sl.stop());
    const config = await configFile(sl.dir, `{ url: "${pgdb.url}" }`, '', anchorDir);
    const created = await api(sl.url, REQUESTER, '/api/v1/exceptions', {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==2.0',
      view: 'default',
      reason: 'needs the 2.0 API',
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect((await api(sl.url, APPROVER, `/api/v1/exceptions/${created.json.id}/approve`, { note: 'ok' })).status).toBe(200);
    const [decision] = await sl.runtime.audit.query({ action: 'exception.approved' });
    await until(async () => (await sl.runtime.audit.anchors()).some((a) => a.seq >= decision!.seq), 'the decision to be anchored');
    // audit.anchorStorage: the anchors are in their own store (immutable in production), not the main one.
    expect(await new FsBlobStore(anchorDir).stat('audit/anchors.jsonl')).toBeDefined();
    expect(await sl.runtime.store.stat('audit/anchors.jsonl')).toBeUndefined();
    const ok = await cli(['--config', config, 'audit', 'verify']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);

    // A careful superuser rewrites the approval (approved by someone else) and re-chains the tail.
    const db = sl.runtime.db;
    const rows = await sl.runtime.audit.query({ afterSeq: decision!.seq - 1, limit: 1000 });
    let prev = decision!.prevHash;
    await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
    for (const r of rows) {
      const actor = r.seq === decision!.seq ? 'oid-mallory' : r.actor;
      const hash = recordHash(prev, { ...r, actor });
      await db.query('UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4', [actor, prev, hash, r.seq]);
      prev = hash;
    }
    await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
    const rewritten = await cli(['--config', config, 'audit', 'verify']);
    expect(rewritten.code).toBe(1);
    expect(rewritten.stdout).toMatch(new RegExp(`BROKEN anchor-mismatch at record \\d+: record \\d+ does not match the hash anchored`));

    // …or deletes the approval and everything after it.
    await tamper(db, 'DELETE FROM audit_log WHERE seq >= $1', [decision!.seq]);
    const dropped = await cli(['--config', config, 'audit', 'verify']);
    expect(dropped.code).toBe(1);
    expect(dropped.stdout).toMatch(/BROKEN truncated at record \d+: the log ends at record \d+, but record \d+ was anchored/);
  });

  it('anchors the tail when `safelist serve` stops on SIGTERM (embedded database)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-anchor-serve-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    const port = await freePort();
    const tokenYaml = `auth: { tokens: [ ${tokens.map((t) => `{ id: ${t.id}, token: ${t.token}, roles: [${t.roles.join(', ')}]${t.views ? `, views: ["*"]` : ''} }`).join(', ')} ] }`;
    const config = await configFile(
      dir,
      seededPgliteYaml(join(dir, 'state')),
      `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }\n${tokenYaml}`,
    );
    const child = spawn(process.execPath, cliArgv('--config', config, 'serve'), {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, () => child.exitCode === null);
    // A request is not a decision: nothing anchors it until the shutdown does.
    const created = await api(`http://127.0.0.1:${port}`, REQUESTER, '/api/v1/exceptions', {
      ecosystem: 'pypi',
      name: 'demo-pkg',
      versions: '==2.0',
      view: 'default',
      reason: 'needs the 2.0 API',
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);

    const db = await openStateDb({ pglitePath: join(dir, 'state') });
    try {
      const audit = new AuditLog(db, new FsBlobStore(join(dir, 'blobs')));
      const head = (await audit.head())!;
      expect((await audit.query({ afterSeq: head.seq - 1 }))[0]!.action).toBe('exception.requested');
      expect((await audit.anchors()).at(-1)).toMatchObject({ seq: head.seq, hash: head.hash }); // the tail is anchored
      await tamper(db, 'DELETE FROM audit_log WHERE seq = $1', [head.seq]);
    } finally {
      await db.close();
    }
    const dropped = await cli(['--config', config, 'audit', 'verify']);
    expect(dropped.code).toBe(1);
    expect(dropped.stdout).toMatch(/BROKEN truncated/);
  });
});
