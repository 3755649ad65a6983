// The suite runs on any machine and cleans up after itself: each run keeps its temp files in one
// root that the global setup creates and removes (and removes roots of killed runs), a private
// PostgreSQL is started when none answers at TEST_PG_URL, and no file of the repository names
// an absolute path of some developer's machine.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import setup from '../support/global-setup.js';
import { freePort } from '../support/ports.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Runs `fn` with environment variables set, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

async function pgAnswers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined); // never connected
  }
}

describe('test run isolation', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs this worker in the per-run temp root', () => {
    expect(basename(tmpdir())).toMatch(/^safelist-test-run-\d+-/);
    expect(statSync(tmpdir()).mode & 0o777).toBe(0o755);
  });

  it('gives a run one temp root, removes it at the end, and removes roots of killed runs', async () => {
    const base = mkdtempSync(join(tmpdir(), 'gs-base-'));
    made.push(base);
    const stale = join(base, `safelist-test-run-${await deadPid()}-abc123`);
    mkdirSync(join(stale, 'safelist-sync-x'), { recursive: true });
    const live = join(base, `safelist-test-run-${process.pid}-def456`); // a run still going
    mkdirSync(live);
    await withEnv({ TMPDIR: base }, async () => {
      const teardown = await setup();
      const root = tmpdir();
      expect(root.startsWith(join(base, `safelist-test-run-${process.pid}-`))).toBe(true);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      writeFileSync(join(mkdtempSync(join(root, 'safelist-x-')), 'f'), 'x');
      await teardown();
      expect(existsSync(root)).toBe(false);
      expect(tmpdir()).toBe(base);
    });
  });

  it('starts a private PostgreSQL for the run when none answers at TEST_PG_URL, and stops it at the end', async () => {
    const closed = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    await withEnv({ TEST_PG_URL: closed, TMPDIR: tmpdir() }, async () => {
      const teardown = await setup();
      let url: string | undefined;
      try {
        url = process.env.TEST_PG_URL;
        expect(url).not.toBe(closed);
        expect(await pgAnswers(url!)).toBe(true);
      } finally {
        await teardown();
      }
      expect(await pgAnswers(url!)).toBe(false);
    });
  });
});

describe('the repository', () => {
  it('names no absolute path of a developer machine', () => {
    const skip = new Set(['.git', 'node_modules', '.tools', 'dist', 'data', 'coverage', '.tmp']);
    // Built from parts so that this file does not match itself.
    const machinePath = new RegExp(`(^|[\\s'"\`(=:])/(${['work', 'root', 'home', 'Users'].join('|')})/`);
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (skip.has(e.name)) continue;
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile() && e.name !== 'package-lock.json' && statSync(p).size < 2_000_000) {
          readFileSync(p, 'utf8').split('\n').forEach((line, i) => {
            if (machinePath.test(line)) offenders.push(`${p.slice(ROOT.length + 1)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    walk(ROOT);
    expect(offenders).toEqual([]);
  });
});
