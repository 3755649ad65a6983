// Two Safelist replicas on one PostgreSQL database and one blob folder mirror a real docker-registry
// (through a proxy that can hold its blob downloads): an OCI sync runs on one replica at a time
// whoever starts it (the schedule's job on one, the API on the other, an on-demand run beside the
// scheduled one), and each upstream blob is fetched once; when a sync returns, the replica that ran
// it serves every tag it wrote (read-your-write), and the other replica follows; while a sync
// writes tags, every tag a replica lists is served whole (never a 5xx).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openedOci } from '../../src/ecosystems/oci/module.js';
import type { OciImage } from '../../src/ecosystems/oci/catalog.js';
import { createPgDatabase } from '../support/databases.js';
import { startHoldProxy, type HoldProxy } from '../support/hold-proxy.js';
import { createLayout, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const ADMIN = 'admin-token-0123456789';
const APP = 'mcr/azureml/app';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

/** The tags a replica's catalog holds for the image, with their digests. */
function tagsOf(sl: TestSafelist): Record<string, string> {
  return Object.fromEntries(openedOci(sl.runtime).catalog.image(APP)?.tags ?? []);
}

/** Every tag names a manifest the entry holds, with its references. */
function whole(image: OciImage | undefined): boolean {
  return !!image && [...image.tags.values()].every((d) => image.manifests.has(d) && !!image.refs.get(d)?.length);
}

/** Runs a job through the job API and returns its outcome line. */
async function runJob(sl: TestSafelist, name: string, params: unknown): Promise<{ status: string; lock?: string }> {
  const res = await fetch(`${sl.url}/api/v1/jobs/${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  expect(res.status).toBe(200);
  const lines = (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { job: string; outcome?: { status: string; lock?: string } });
  return lines.find((l) => l.job === name && l.outcome)!.outcome!;
}

describe('OCI sync on two replicas of one PostgreSQL database', () => {
  let registry: TestRegistry;
  let proxy: HoldProxy;
  let layout: Layout;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let blobs: string;
  const pushed: Record<string, string> = {};
  let one: TestSafelist;
  let two: TestSafelist;

  const push = async (tag: string) => {
    await layout.image(tag, { 'app/version.txt': `${tag}\n` }, { from: 'base' });
    pushed[tag] = await layout.push(tag, registry.host, `azureml/app:${tag}`);
  };

  beforeAll(async () => {
    blobs = await mkdtemp(join(tmpdir(), 'safelist-oci-replicas-'));
    registry = await startRegistry();
    proxy = await startHoldProxy(registry.url);
    layout = await createLayout();
    await layout.image('base', { 'etc/base.txt': 'shared base layer\n' });
    for (const tag of ['1.0.0', '1.1.0']) await push(tag);
    db = await createPgDatabase();
    const replica = () =>
      startTestSafelist({
        databaseUrl: db.url,
        ociAllowlist: `packages:\n  - ${APP}:^1.0.0\n`,
        ociUpstreams: [{ name: 'mcr', url: proxy.url }],
        extra: { storage: { kind: 'fs', path: blobs }, auth: { tokens: [{ id: 'oid-admin', token: ADMIN, roles: ['admin'] }] } },
      });
    one = await replica();
    two = await replica();
  });

  afterAll(async () => {
    proxy?.release();
    await one?.stop();
    await two?.stop();
    await db?.drop();
    await proxy?.stop();
    await registry?.stop();
    await layout?.remove();
    await rm(blobs, { recursive: true, force: true });
  });

  it('runs one OCI sync at a time, whoever starts it, fetching each blob once; its replica serves every tag when it returns', async () => {
    proxy.hold(/\/blobs\//);
    // What the schedule runs (the `sync` job, OCI part of its default plan), on replica one.
    const scheduled = one.syncNow();
    await until(() => proxy.waiting > 0 || undefined, 'the scheduled sync to ask the registry for a blob');
    // Meanwhile: the API on the other replica, the API's whole sync there, and an on-demand run beside the scheduled one.
    expect(await runJob(two, 'sync:oci', {})).toEqual({ status: 'busy', lock: 'sync:oci' });
    expect(await runJob(two, 'sync', { ecosystem: 'oci' })).toMatchObject({ status: 'busy', lock: 'sync' });
    expect(await one.syncOciNow()).toBeUndefined();
    proxy.release();
    await scheduled;
    // Read-your-write: the replica that ran the sync holds every tag it wrote, whole, as it returns.
    expect(tagsOf(one)).toEqual({ '1.0.0': pushed['1.0.0'], '1.1.0': pushed['1.1.0'] });
    expect(whole(openedOci(one.runtime).catalog.image(APP))).toBe(true);
    const fetched = proxy.requests.filter((r) => /^GET .*\/blobs\//.test(r));
    expect(fetched.length).toBeGreaterThan(0);
    expect(new Set(fetched).size).toBe(fetched.length);
    // The other replica follows on the notification, and serves the same manifests.
    await until(() => Object.keys(tagsOf(two)).length === 2 || undefined, 'replica two to hold both tags');
    for (const [tag, digest] of Object.entries(pushed)) {
      const res = await fetch(`${two.url}/v2/${APP}/manifests/${tag}`, { method: 'HEAD', headers: { accept: ACCEPT } });
      expect([tag, res.status, res.headers.get('docker-content-digest')]).toEqual([tag, 200, digest]);
    }
  });

  it('serves every listed tag whole while a sync on the other replica writes new ones', async () => {
    for (const tag of ['1.2.0', '1.3.0', '1.4.0']) await push(tag);
    const answers: number[] = [];
    let syncing = true;
    // Replica one lists and pulls, over and over, while replica two's sync commits the new tags.
    const pulls = (async () => {
      while (syncing) {
        const list = (await (await fetch(`${one.url}/v2/${APP}/tags/list`)).json()) as { tags: string[] };
        for (const tag of list.tags)
          answers.push((await fetch(`${one.url}/v2/${APP}/manifests/${tag}`, { headers: { accept: ACCEPT } })).status);
      }
    })();
    const outcome = await runJob(two, 'sync:oci', {});
    // Read-your-write on the replica that ran it, the moment its outcome arrived.
    const held = tagsOf(two);
    syncing = false;
    await pulls;
    expect(outcome.status).toBe('done');
    expect(held).toEqual(pushed);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((s) => s !== 200)).toEqual([]);
    await until(() => Object.keys(tagsOf(one)).length === Object.keys(pushed).length || undefined, 'replica one to hold the new tags');
    expect(whole(openedOci(one.runtime).catalog.image(APP))).toBe(true);
  });
});
