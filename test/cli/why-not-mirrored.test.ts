// `safelist why` tells the truth about what the index will answer: a name the policy allows
// but of which no file is mirrored is "not-mirrored" (the index answers 404), and when the last
// sync refused its file (a corrupted upstream file here), it says which. The CLI runs as a child
// process beside a running server on the same PostgreSQL database, as an operator runs it; the
// server's API answers with the same refused-file detail.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKeyForSha256 } from '../../src/catalog/blob-keys.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { cli } from '../support/cli.js';
import { createPgDatabase } from '../support/databases.js';
import { startTestSafelist, writeCliConfigBeside, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('safelist why for an allowed name the index cannot serve', () => {
  let upstream: TestSafelist;
  let sl: TestSafelist;
  let pg: Awaited<ReturnType<typeof createPgDatabase>>;
  let work: string;
  let config: string;
  let wheel: BuiltWheel;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-why-'));
    const dist = join(work, 'dist');
    wheel = await buildWheel(dist, { name: 'corrupt-pkg', version: '1.0' });
    upstream = await startTestSafelist({ allowlist: 'packages:\n  - corrupt-pkg\n' });
    await importPypiDir(dist, { store: upstream.runtime.store, catalog: openedPypi(upstream.runtime).catalog });
    // The upstream still announces the right sha256, but serves other bytes.
    await writeFile(join(upstream.dir, 'blobs', ...blobKeyForSha256(wheel.sha256).split('/')), 'not the wheel you are looking for');
    pg = await createPgDatabase();
    sl = await startTestSafelist({
      databaseUrl: pg.url,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - corrupt-pkg\n',
      upstreams: [{ name: 'central', url: `${upstream.url}/pypi/default/simple/` }],
    });
    config = await writeCliConfigBeside(sl, join(work, 'safelist.yaml'), [
      'views: { team-a: {} }',
      `pypi: { upstreams: [ { name: central, url: "${upstream.url}/pypi/default/simple/" } ] }`,
    ]);
  });

  afterAll(async () => {
    await sl?.stop();
    await upstream?.stop();
    await pg?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('says "not mirrored yet, run safelist sync" before any sync, on the CLI and the API', async () => {
    const r = await cli(['--config', config, 'why', 'corrupt-pkg']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('pypi corrupt-pkg in view default: not-mirrored');
    expect(r.stdout).toMatch(
      /allowed by policy in view default for any version, but no allowed file of it is mirrored, so the index answers 404 .*run `safelist sync`/,
    );
    expect((await fetch(`${sl.url}/pypi/default/simple/corrupt-pkg/`)).status).toBe(404);
    const api = (await (await fetch(`${sl.url}/api/v1/policy/why?name=corrupt-pkg`)).json()) as { status: string };
    expect(api.status).toBe('not-mirrored');
  });

  it('names the file the last sync refused', async () => {
    await sl.syncNow();
    const r = await cli(['--config', config, 'why', 'corrupt-pkg', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const e = JSON.parse(r.stdout) as { status: string; message: string; syncFailures: Array<{ filename: string }> };
    expect(e.status).toBe('not-mirrored');
    expect(e.syncFailures.map((f) => f.filename)).toEqual([wheel.filename]);
    expect(e.message).toContain(`the last sync refused ${wheel.filename}`);
    const text = await cli(['--config', config, 'why', 'corrupt-pkg']);
    expect(text.stdout).toContain(`the last sync refused ${wheel.filename}`);
    expect(text.stdout).not.toContain('to ask for it');
    // The API (what the console and remote users read) gives the same detail.
    const api = (await (await fetch(`${sl.url}/api/v1/policy/why?name=corrupt-pkg`)).json()) as typeof e;
    expect(api.status).toBe('not-mirrored');
    expect(api.syncFailures).toEqual(e.syncFailures);
    expect(api.message).toBe(e.message);
  });

  it('rejects an unknown view with exit 2 naming the known views (CLI) and 404 (API)', async () => {
    const r = await cli(['--config', config, 'why', 'corrupt-pkg', '--view', 'team-b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('view "team-b" does not exist; configured views: default, team-a');
    const api = await fetch(`${sl.url}/api/v1/policy/why?name=corrupt-pkg&view=team-b`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { detail: string }).detail).toContain('configured views: default, team-a');
  });
});
