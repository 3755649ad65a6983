// `safelist sync --ecosystem oci` and `safelist allowlist lint` on an OCI allowlist, as a user
// runs them in a child process: progress on stderr, a JSON report on stdout, a resumable rerun.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist } from '../support/safelist.js';
import { cli } from '../support/cli.js';
import { openedOci } from '../../src/ecosystems/oci/module.js';
import { seededPgliteYaml } from '../support/databases.js';

describe('safelist CLI for OCI', () => {
  let dir: string;
  let config: string;
  let registry: TestRegistry;
  let layout: Layout;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-oci-cli-'));
    registry = await startRegistry();
    layout = await createLayout();
    await layout.image('1.0.0', { 'app/v.txt': '1\n' });
    await layout.image('1.1.0', { 'app/v.txt': '1.1\n' }, { from: '1.0.0' });
    await layout.push('1.0.0', registry.host, 'azureml/cli:1.0.0');
    await layout.push('1.1.0', registry.host, 'azureml/cli:1.1.0');
    await layout.push('1.1.0', registry.host, 'azureml/cli:edge');
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'oci.yaml'), 'packages:\n  - mcr/azureml/cli:1.*\n');
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `oci: { upstreams: [ { name: mcr, url: "${registry.url}" } ] }`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await registry?.stop();
    await layout?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('syncs with progress, then finds everything present', async () => {
    const plan = await cli(['--config', config, 'sync', '--ecosystem', 'oci', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('mcr/azureml/cli (mcr): 3 upstream tag(s), allowed: 1.0.0, 1.1.0');
    const run = await cli(['--config', config, 'sync', '--ecosystem', 'oci']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('[1/1] mcr/azureml/cli: 3 upstream file(s) on mcr, 2 to fetch');
    expect(run.stderr).toMatch(/stored {2}mcr\/azureml\/cli:1\.0\.0 -> sha256:[0-9a-f]{64}/);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { tags: number; downloaded: number; failed: number };
    expect(report.tags).toBe(2);
    expect(report.failed).toBe(0);
    // 1.1.0 is 1.0.0 plus one layer: base layer once, two configs, one more layer.
    expect(report.downloaded).toBe(4);
    const again = await cli(['--config', config, 'sync', '--ecosystem', 'oci']);
    expect(JSON.parse(again.stdout.trim()) as unknown).toMatchObject({ tags: 0, present: 2, downloaded: 0, failed: 0 });
  });

  it('explains an image name: the mirrored tags it allows, and what blocks another', async () => {
    const r = await cli(['--config', config, 'why', 'mcr/azureml/cli']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('oci mcr/azureml/cli in view default: allowed');
    expect(r.stdout).toContain('available: 1.0.0, 1.1.0');
    const blocked = await cli(['--config', config, 'why', 'mcr/azureml/other']);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('mcr/azureml/other is blocked by Safelist policy in view default: it is not on the allowlist');
  });

  it('runs the OCI sync in the server on its node-cron schedule', async () => {
    const sl = await startTestSafelist({
      ociAllowlist: 'packages:\n  - mcr/azureml/cli:1.0.0\n',
      ociUpstreams: [{ name: 'mcr', url: registry.url }],
      extra: { sync: { schedule: '*/1 * * * * *', concurrency: 2, timeout: '30s' } },
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!openedOci(sl.runtime).catalog.tagDigest('mcr/azureml/cli', '1.0.0') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(openedOci(sl.runtime).catalog.tagDigest('mcr/azureml/cli', '1.0.0')).toMatch(/^sha256:/);
      const res = await fetch(`${sl.url}/v2/mcr/azureml/cli/manifests/1.0.0`, { method: 'HEAD' });
      expect(res.status).toBe(200);
    } finally {
      await sl.stop();
    }
  });

  it('lints OCI entries, including registries that are not configured', async () => {
    await writeFile(
      join(dir, 'allowlists', 'oci.yaml'),
      'packages:\n  - mcr/azureml/cli:1.*\n  - ghcr/some/thing\n  - mcr/azureml/x:^nope\n',
    );
    const r = await cli(['--config', config, 'allowlist', 'lint']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/oci\.yaml:4: "\^nope" is not a semver range/);
    expect(r.stdout).toMatch(/oci\.yaml:3: "ghcr" is not a configured oci upstream \(oci\.upstreams: mcr\)/);
  });
});
