// The policy folder watch beyond a file edited in place (test/e2e/policy-reload.test.ts has
// those, across the process boundary): a folder replaced as a whole by a deploy tool, and a
// Kubernetes ConfigMap volume, whose kubelet swaps a `..data` symlink to a new folder. Each
// time, the running server serves the new policy, and keeps following later changes. And the
// audit story: an exception decided through the API is on the record once, as its decision,
// not again as a policy reload (its files did not change).
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function withPackages(sl: TestSafelist): Promise<void> {
  const wheels = join(sl.dir, 'wheels');
  for (const name of ['alpha', 'beta', 'gamma']) await buildWheel(wheels, { name, version: '1.0' });
  await importPypiDir(wheels, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
}

const lists = async (sl: TestSafelist, name: string) =>
  (await (await fetch(`${sl.url}/pypi/default/simple/`)).text()).includes(`>${name}<`);

describe('policy folder watch', () => {
  it('follows a folder replaced as a whole, and edits inside the new folder after that', async () => {
    const sl = await startTestSafelist({ allowlist: 'packages:\n  - alpha\n' });
    cleanup.push(() => sl.stop());
    await withPackages(sl);
    expect(await lists(sl, 'alpha')).toBe(true);

    await mkdir(join(sl.dir, 'allowlists.next'));
    await writeFile(join(sl.dir, 'allowlists.next', 'pypi.yaml'), 'packages:\n  - beta\n');
    await rename(join(sl.dir, 'allowlists'), join(sl.dir, 'allowlists.old'));
    await rename(join(sl.dir, 'allowlists.next'), join(sl.dir, 'allowlists'));
    await until(async () => (await lists(sl, 'beta')) && !(await lists(sl, 'alpha')), 'the replaced folder to be served');

    await writeFile(join(sl.dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - gamma\n');
    await until(async () => (await lists(sl, 'gamma')) && !(await lists(sl, 'beta')), 'an edit in the new folder to be served');
  });

  it('follows a Kubernetes ConfigMap volume whose ..data link is swapped, again and again', async () => {
    const volume = await mkdtemp(join(tmpdir(), 'safelist-configmap-'));
    cleanup.push(() => rm(volume, { recursive: true, force: true }));
    // kubelet's atomic writer: ..<ts>/ holds the files, ..data -> ..<ts>, each key a link through ..data.
    const version = async (name: string, allowlist: string) => {
      await mkdir(join(volume, name, 'allowlists'), { recursive: true });
      await mkdir(join(volume, name, 'exceptions'));
      await writeFile(join(volume, name, 'allowlists', 'pypi.yaml'), allowlist);
    };
    const swap = async (from: string, to: string) => {
      await symlink(to, join(volume, '..data_tmp'));
      await rename(join(volume, '..data_tmp'), join(volume, '..data'));
      await rm(join(volume, from), { recursive: true, force: true });
    };
    await version('..v1', 'packages:\n  - alpha\n');
    await symlink('..v1', join(volume, '..data'));
    await symlink('..data/allowlists', join(volume, 'allowlists'));
    await symlink('..data/exceptions', join(volume, 'exceptions'));

    const sl = await startTestSafelist({
      extra: { policy: { allowlistDir: join(volume, 'allowlists'), exceptionsDir: join(volume, 'exceptions'), watchDebounce: '50ms' } },
    });
    cleanup.push(() => sl.stop());
    await withPackages(sl);
    expect(await lists(sl, 'alpha')).toBe(true);

    await version('..v2', 'packages:\n  - beta\n');
    await swap('..v1', '..v2');
    await until(async () => (await lists(sl, 'beta')) && !(await lists(sl, 'alpha')), 'the first ConfigMap update to be served');

    await version('..v3', 'packages:\n  - gamma\n');
    await swap('..v2', '..v3');
    await until(async () => (await lists(sl, 'gamma')) && !(await lists(sl, 'beta')), 'the second ConfigMap update to be served');
    const metrics = await (await fetch(`${sl.url}/metrics`)).text();
    expect(metrics).toMatch(/^safelist_policy_reloads_total\{result="rejected"\} 0$/m);
  });

  it('records an exception decided through the API once, as the decision, not as a policy reload', async () => {
    const tokens = [
      { id: 'oid-alice', token: 'alice-token-0123456789', roles: ['requester'] },
      { id: 'oid-bob', token: 'bob-token-0123456789ab', roles: ['approver'], views: ['*'] },
      { id: 'oid-audrey', token: 'audrey-token-0123456789', roles: ['auditor'] },
    ];
    const sl = await startTestSafelist({ allowlist: 'packages:\n  - alpha\n', views: { 'team-a': {} }, extra: { auth: { tokens } } });
    cleanup.push(() => sl.stop());
    await withPackages(sl);
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${sl.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const actions = async () =>
      ((await call('GET', '/api/v1/audit?limit=1000', tokens[2]!.token)).json.records as Array<{ action: string }>).map((r) => r.action);
    expect((await actions()).filter((a) => a === 'policy.reloaded')).toHaveLength(1); // the start

    const req = await call('POST', '/api/v1/exceptions', tokens[0]!.token, {
      ecosystem: 'pypi',
      name: 'beta',
      view: 'team-a',
      reason: 'needed for the paper',
    });
    expect(req.status).toBe(201);
    expect((await call('POST', `/api/v1/exceptions/${String(req.json.id)}/approve`, tokens[1]!.token, {})).status).toBe(200);
    await until(
      async () => (await (await fetch(`${sl.url}/pypi/team-a/simple/`)).text()).includes('>beta<'),
      'the approved exception to be served',
    );
    await writeFile(join(sl.dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - alpha\n  - gamma\n');
    await until(() => lists(sl, 'gamma'), 'the file edit to be served');
    // The file edit is recorded; waiting for it orders this check after any record of the approval.
    await until(async () => (await actions()).filter((a) => a === 'policy.reloaded').length === 2, 'the file edit to be audited');
    const all = await actions();
    expect(all.filter((a) => a === 'exception.approved')).toHaveLength(1);
    expect(all.filter((a) => a === 'policy.reloaded')).toHaveLength(2);
  });
});
