// `safelist allowlist lint` on an npm allowlist and `safelist sync --ecosystem npm` against a
// verdaccio upstream, as a user runs them in a child process: problems with file and line,
// progress on stderr, a plan for a dry run, a JSON report on stdout, and a rerun that finds
// everything already stored; then `safelist why @scope/name` explains it as npm without --ecosystem.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { startVerdaccio, type Verdaccio } from '../support/verdaccio.js';
import { seededPgliteYaml } from '../support/databases.js';

describe('safelist CLI for npm', () => {
  let dir: string;
  let config: string;
  let verdaccio: Verdaccio;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-npm-cli-'));
    verdaccio = await startVerdaccio();
    for (const version of ['1.0.0', '2.0.0']) await verdaccio.publish({ name: 'cli-lib', version });
    await verdaccio.publish({ name: '@acme/cli-tool', version: '0.1.0', dependencies: { 'cli-lib': '^1.0.0' } });
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    config = join(dir, 'safelist.yaml');
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `npm: { upstreams: [ { name: verdaccio, url: "${verdaccio.url}/" } ] }`,
        '',
      ].join('\n'),
    );
  }, 180_000);

  afterAll(async () => {
    await verdaccio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lints npm entries with file and line', async () => {
    await writeFile(join(dir, 'allowlists', 'npm.yaml'), 'packages:\n  - cli-lib@^1\n  - "Bad Name"\n  - "x@>=banana"\n');
    const r = await cli(['--config', config, 'allowlist', 'lint']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/npm\.yaml:3: "Bad Name" is not an npm spec such as "left-pad"/);
    expect(r.stdout).toMatch(/npm\.yaml:4: ">=banana" is not a semver range/);
  });

  it('plans, syncs and resumes through `safelist sync --ecosystem npm`', async () => {
    await writeFile(join(dir, 'allowlists', 'npm.yaml'), 'packages:\n  - cli-lib@^1\n  - "@acme/cli-tool"\n  - not-published\n');
    expect((await cli(['--config', config, 'allowlist', 'lint'])).code).toBe(0);
    const plan = await cli(['--config', config, 'sync', '--ecosystem', 'npm', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('@acme/cli-tool (verdaccio): 1 upstream version(s), fetch 1, present 0');
    expect(plan.stdout).toContain('cli-lib (verdaccio): 2 upstream version(s), fetch 1, present 0');
    expect(plan.stdout).toContain('not-published: not found on any upstream');

    const run = await cli(['--config', config, 'sync', '--ecosystem', 'npm']);
    expect(run.stderr).toContain('stored  cli-lib@1.0.0');
    expect(JSON.parse(run.stdout.trim())).toMatchObject({ ecosystem: 'npm', downloaded: 2, failed: 0, missing: ['not-published'] });
    expect(run.code).toBe(0);

    const again = await cli(['--config', config, 'sync', '--ecosystem', 'npm']);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ downloaded: 0, failed: 0 });
  }, 180_000);

  it('explains a scoped name as npm in `safelist why` without --ecosystem (after the sync above)', async () => {
    const r = await cli(['--config', config, 'why', '@acme/cli-tool', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ecosystem: 'npm', name: '@acme/cli-tool', status: 'allowed', available: ['0.1.0'] });
  }, 60_000);
});
