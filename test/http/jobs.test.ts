// POST /api/v1/jobs/{name}: who may start a job (the admin role, or the local token the server
// wrote into its PGlite folder's lock file — nothing else), input checked against the job's
// schema before anything runs (400 naming the field, 404 naming the jobs), and the NDJSON
// stream: progress events, then the outcome ("busy" while another run holds the lock).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { seededPglite } from '../support/databases.js';

describe('the job API', () => {
  let sl: TestSafelist;
  let work: string;
  let localToken: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-jobs-api-'));
    sl = await startTestSafelist({
      allowlist: 'packages:\n  - api-pkg\n',
      extra: {
        database: seededPglite(join(work, 'pglite')),
        auth: {
          tokens: [
            { id: 'oid-admin', token: 'admin-token-0123456789', roles: ['admin'] },
            { id: 'oid-req', token: 'requester-token-0123456789', roles: ['requester'] },
          ],
        },
      },
    });
    localToken = (JSON.parse(await readFile(join(work, 'pglite', 'safelist.lock'), 'utf8')) as { token: string }).token;
  });
  afterAll(async () => {
    await sl?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const post = (name: string, body: unknown, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${sl.url}/api/v1/jobs/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify(body),
    });
  const lines = async (res: Response) =>
    (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('admits the admin role and the lock file token, and nobody else', async () => {
    expect((await post('audit:anchor', {})).status).toBe(401);
    expect((await post('audit:anchor', {}, 'not-the-token')).status).toBe(401);
    expect((await post('audit:anchor', {}, 'requester-token-0123456789')).status).toBe(403);
    const admin = await post('audit:anchor', {}, 'admin-token-0123456789');
    expect(admin.status).toBe(200);
    expect(admin.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect((await lines(admin)).at(-1)).toMatchObject({ job: 'audit:anchor', outcome: { status: 'done' } });
    expect((await post('audit:anchor', {}, localToken)).status).toBe(200);
  });

  it('checks the job name and its parameters before running anything', async () => {
    const unknown = await post('nosuch', {}, localToken);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toMatch(/no job "nosuch"; jobs: sync, sync:pypi/);
    const relative = await post('import:pypi', { dir: 'relative/path' }, localToken);
    expect(relative.status).toBe(400);
    expect(((await relative.json()) as { detail: string }).detail).toMatch(/dir: an absolute path/);
    const extra = await post('sync', { ecosystem: 'cargo' }, localToken);
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as { detail: string }).detail).toMatch(/ecosystem/);
  });

  it('streams progress and the outcome, audits the run with the CLI user, and says busy while another run holds the lock', async () => {
    const dir = join(work, 'wheels');
    const w = await buildWheel(dir, { name: 'api-pkg', version: '1.0' });
    const res = await post('import:pypi', { dir }, localToken, { 'x-safelist-actor': 'tester' });
    const stream = await lines(res);
    expect(stream.slice(0, -1).every((l) => l.job === 'import:pypi' && (l.event as { type: string }).type === 'line')).toBe(true);
    expect(stream.at(-1)).toMatchObject({
      job: 'import:pypi',
      outcome: { status: 'done', result: { imported: [expect.objectContaining({ filename: w.filename })] } },
    });
    expect((await fetch(`${sl.url}/pypi/default/simple/api-pkg/`)).status).toBe(200);
    expect((await sl.runtime.audit.query({ action: 'import.finished' }))[0]).toMatchObject({ actor: 'cli:tester' });

    let release!: () => void;
    const holding = sl.runtime.db.tryWithLock('import:pypi', () => new Promise<void>((r) => (release = r)));
    const busy = await lines(await post('import:pypi', { dir }, localToken));
    release();
    await holding;
    expect(busy).toEqual([{ job: 'import:pypi', outcome: { status: 'busy', lock: 'import:pypi' } }]);
  });
});
