// Incidents for images, end to end: one real docker-registry is both the mirror's upstream and a
// registry whose pushes the gate judges (its notifications). An image pushed there is judged by
// the gate, mirrored by Safelist, and pulled from Safelist's /v2 by real skopeo with a read token.
// `GET /api/v1/incidents?image=…` and `safelist incident IMAGE` (CLI child on the same PostgreSQL)
// then list the view and identity that pulled it, when, and the gate's verdict history for its
// digest, by digest and by tag; the download log holds the manifest and every blob by digest.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageIncidentReport } from '../../src/gate/image-incidents.js';
import { cli } from '../support/cli.js';
import { createPgDatabase } from '../support/databases.js';
import { createLayout, sh, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, writeCliConfigBeside, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { openedOci } from '../../src/ecosystems/oci/module.js';

const WEBHOOK = 'registry-webhook-token-0123456789';
const PIPELINE = 'pipeline-token-0123456789abcdef';
const AUDITOR = 'auditor-token-0123456789abcdef';
const READER = 'bob-read-token-0123456789abcdef';

describe('incident for an image: who pulled it through /v2, and what the gate decided', () => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;
  let pg: Awaited<ReturnType<typeof createPgDatabase>>;
  let work: string;
  let digest: string;

  const incident = async (image: string) => {
    const res = await fetch(`${sl.url}/api/v1/incidents?image=${encodeURIComponent(image)}`, {
      headers: { authorization: `Bearer ${AUDITOR}` },
    });
    return { status: res.status, body: (await res.json()) as ImageIncidentReport & { detail?: string } };
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-incident-image-'));
    const port = await freePort();
    registry = await startRegistry({
      notify: [
        {
          name: 'safelist',
          url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/distribution`,
          headers: { Authorization: `Bearer ${WEBHOOK}` },
        },
      ],
    });
    pg = await createPgDatabase();
    sl = await startTestSafelist({
      databaseUrl: pg.url,
      ociAllowlist: 'packages:\n  - mcr/team/app:1.0.0\n',
      ociUpstreams: [{ name: 'mcr', url: registry.url }],
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'warn' },
        downloads: { flushInterval: '200ms' },
        auth: {
          packageRead: 'token',
          tokens: [
            { id: 'registry', token: WEBHOOK, roles: ['webhook'] },
            { id: 'ci', token: PIPELINE, roles: ['pipeline'] },
            { id: 'oid-auditor', token: AUDITOR, roles: ['auditor'] },
            { id: 'oid-bob', name: 'Bob', token: READER, roles: ['requester'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: registry.url }],
          providers: ['contents'],
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
          contents: { views: [{ match: 'team/**', view: 'default' }] },
        },
      },
    });
    layout = await createLayout();
    await layout.image('app', { 'app/README.txt': 'an application with no Python distributions\n' });
    digest = await layout.push('app', registry.host, 'team/app:1.0.0');
    await sl.syncOciNow();
    expect(openedOci(sl.runtime).catalog.tagDigest('mcr/team/app', '1.0.0')).toBe(digest);
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
    await pg?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists the view and identity that pulled it with skopeo, and the gate verdicts of its digest, by tag and by digest', async () => {
    const gateState = await until(async () => {
      const res = await fetch(`${sl.url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE}` } });
      const body = (await res.json()) as { state?: string };
      return res.status === 200 && body.state !== 'pending' ? body.state : undefined;
    }, 'the gate verdict');
    await sh('skopeo', [
      'copy',
      '--src-tls-verify=false',
      '--src-creds',
      `pull:${READER}`,
      `docker://${new URL(sl.url).host}/mcr/team/app:1.0.0`,
      `oci:${join(work, 'out')}:x`,
    ]);
    const byTag = await until(async () => {
      const r = await incident('mcr/team/app:1.0.0');
      return r.body.pulls?.length ? r : undefined;
    }, 'the pull in the download log');
    expect(byTag.status).toBe(200);
    expect(byTag.body.digests).toEqual([digest]);
    expect(byTag.body.pulls).toEqual([
      {
        view: 'default',
        identity: { oid: 'oid-bob', name: 'Bob' },
        repository: 'mcr/team/app',
        first: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        last: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        count: 1,
        references: ['1.0.0'],
      },
    ]);
    const verdicts = byTag.body.verdicts.filter((v) => v.action === 'gate.verdict');
    expect(verdicts).toEqual([
      expect.objectContaining({ outcome: gateState, subject: expect.stringMatching(new RegExp(`team/app@${digest}$`)) }),
    ]);
    expect(byTag.body.verdicts[0]!.action).toBe('gate.received');
    expect(byTag.body.gate).toEqual([expect.objectContaining({ repository: 'team/app', state: gateState })]);

    const byDigest = await incident(`mcr/team/app@${digest}`);
    expect(byDigest.body.pulls).toEqual(byTag.body.pulls);
    expect(byDigest.body.verdicts).toEqual(byTag.body.verdicts);

    // The log holds the manifest (asked for by tag) and each blob, all by digest.
    const manifest = (await // From the upstream registry itself: a pull through Safelist would be one more in the log.
    (
      await fetch(`${registry.url}/v2/team/app/manifests/${digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    ).json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const blobs = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    // The log is written in batches after the responses: the manifest row (awaited above) may
    // land before the blobs' rows.
    const rows = await until(async () => {
      const r = await sl.runtime.db.query<{ version: string; sha256: string }>(
        "SELECT version, sha256 FROM download_log WHERE ecosystem = 'oci' ORDER BY id",
      );
      return blobs.every((b) => r.some((row) => row.version === b)) ? r : undefined;
    }, "every blob's row in the download log");
    expect(rows[0]).toEqual({ version: '1.0.0', sha256: digest.slice(7) });
    for (const b of blobs) expect(rows).toContainEqual({ version: b, sha256: b.slice(7) });
  });

  it('refuses what is not an image reference with a 400 that shows both forms', async () => {
    const r = await incident('mcr/team/app');
    expect(r.status).toBe(400);
    expect(r.body.detail).toContain('REPOSITORY@sha256:<64 hex digits> or REPOSITORY:TAG');
    const both = await fetch(`${sl.url}/api/v1/incidents?image=mcr/team/app:1.0.0&name=x&version=1`, {
      headers: { authorization: `Bearer ${AUDITOR}` },
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { detail: string }).detail).toContain('give either image or name and version, not both');
    const doc = (await (await fetch(`${sl.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, { get: { parameters: Array<{ name: string }> } }>;
    };
    expect(doc.paths['/api/v1/incidents']!.get.parameters.map((p) => p.name)).toEqual(['ecosystem', 'name', 'version', 'image']);
  });

  it('`safelist incident REPO@DIGEST` prints the pulls and the verdict history', async () => {
    const config = join(work, 'cli.yaml');
    await writeCliConfigBeside(sl, config);
    const pull = (await incident(`mcr/team/app@${digest}`)).body.pulls[0]!;
    const r = await cli(['--config', config, 'incident', `mcr/team/app@${digest}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`image mcr/team/app@${digest}: ${digest}`);
    expect(r.stdout).toContain(`view default  identity Bob (oid-bob)  mcr/team/app 1.0.0  first ${pull.first}  last ${pull.last}  count 1`);
    expect(r.stdout).toMatch(new RegExp(`gate\\.verdict \\w+  \\S*team/app@${digest}`));
    const bad = await cli(['--config', config, 'incident', 'mcr/team/app@sha256:nothex']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not an image reference');
  });
});
