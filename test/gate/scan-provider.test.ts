// The ScanProvider contract (src/gate/types.ts), run unchanged against every provider the gate
// can be configured with: posted reports (on PGlite and on PostgreSQL), Defender for Containers
// (the real Resource Graph SDK against the local ARG stub) and curated contents (layers read from
// a real docker-registry holding umoci images). What it must never allow: a result that is not
// there yet, a malformed one, or a provider that cannot be asked read as "scanned" (clean); a
// digest asked about left without an answer; a late result missed once it exists.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateSchema } from '../../src/config/schema.js';
import { grammars, openStateDb } from '../../src/ecosystems/index.js';
import { ContentsProvider } from '../../src/gate/providers/contents.js';
import { DefenderProvider } from '../../src/gate/providers/defender.js';
import { ReportProvider } from '../../src/gate/providers/reports.js';
import { gateRegistries } from '../../src/gate/registry.js';
import { GateStore } from '../../src/gate/store.js';
import type { Finding, ImageRef, ScanProvider, ScanResult } from '../../src/gate/types.js';
import { Policy } from '../../src/policy/decide.js';
import { loadPolicyFiles } from '../../src/policy/load.js';
import type { Db } from '../../src/state/db.js';
import { databaseConfig, DB_MODES, type DbMode } from '../support/databases.js';
import { FAKE_ARM_TOKEN, startDefenderStub } from '../support/defender.js';
import { createLayout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { registryBlobPath, startRegistry } from '../support/registry.js';

interface ScanWorld {
  provider: ScanProvider;
  /** The same provider with its dependency out of reach (a port nothing listens on, a closed database). */
  down(): Promise<ScanProvider>;
  /** An image the provider has a result for, and the id of a finding in it. */
  reported: { image: ImageRef; finding: string };
  /** An image with no result yet; arrive() makes its result exist, with that finding. */
  late: { image: ImageRef; finding: string; arrive(): Promise<void> };
  /** An image whose result exists but is malformed (or, for contents, whose layer cannot be read). */
  malformed: ImageRef;
  stop(): Promise<void>;
}

interface ScanSubject {
  name: string;
  start(): Promise<ScanWorld>;
}

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const ref = (d: string, repository = 'team/app'): ImageRef => ({ registry: 'reg', repository, digest: d });
const finding = (id: string): Finding => ({
  id,
  severity: 'high',
  package: 'openssl',
  installedVersion: '3.0.0',
  fixedVersion: '3.0.1',
  fixable: true,
  source: 'trivy',
});

async function openTestDb(mode: DbMode): Promise<{ db: Db; cleanup(): Promise<void> }> {
  const cfg = await databaseConfig(mode);
  const db = await openStateDb(cfg.database);
  return { db, cleanup: cfg.cleanup };
}

function reports(mode: DbMode): ScanSubject {
  return {
    name: `reports (${mode})`,
    async start() {
      const { db, cleanup } = await openTestDb(mode);
      const store = new GateStore(db, 60_000);
      await store.addReport(digest('1'), 'trivy', [finding('CVE-2024-0001')], 'contract');
      // A row damaged in the database (or written by something else): findings that are not findings.
      await db.query("INSERT INTO gate_reports (digest, format, findings, posted_by) VALUES ($1, 'trivy', $2::jsonb, 'contract')", [
        digest('3'),
        JSON.stringify({ not: 'a list of findings' }),
      ]);
      return {
        provider: new ReportProvider(db),
        async down() {
          const other = await openTestDb(mode);
          await other.db.close();
          await other.cleanup();
          return new ReportProvider(other.db);
        },
        reported: { image: ref(digest('1')), finding: 'CVE-2024-0001' },
        late: {
          image: ref(digest('2')),
          finding: 'CVE-2024-0002',
          arrive: async () => void (await store.addReport(digest('2'), 'trivy', [finding('CVE-2024-0002')], 'contract')),
        },
        malformed: ref(digest('3')),
        async stop() {
          await db.close();
          await cleanup();
        },
      };
    },
  };
}

const credential: TokenCredential = { getToken: async () => ({ token: FAKE_ARM_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

const defender: ScanSubject = {
  name: 'defender (Resource Graph SDK against the ARG stub)',
  async start() {
    const stub = await startDefenderStub();
    const provider = (endpoint: string) =>
      new DefenderProvider(
        new ResourceGraphClient(credential, { endpoint, tlsOptions: { ca: stub.ca }, retryOptions: { maxRetries: 0 } }),
        {
          subscriptions: ['0000'],
        },
      );
    stub.scenarios.set(digest('1'), { kind: 'grouped', findings: [{ cve: 'CVE-2024-0001', severity: 'High', fixedVersion: '3.0.1' }] });
    stub.scenarios.set(digest('2'), { kind: 'not-scanned' });
    stub.scenarios.set(digest('3'), { kind: 'unknown-shape' });
    return {
      provider: provider(stub.url),
      down: async () => provider(`https://127.0.0.1:${await freePort()}`),
      reported: { image: ref(digest('1')), finding: 'CVE-2024-0001' },
      late: {
        image: ref(digest('2')),
        finding: 'CVE-2024-0002',
        arrive: async () =>
          void stub.scenarios.set(digest('2'), { kind: 'grouped', findings: [{ cve: 'CVE-2024-0002', severity: 'Critical' }] }),
      },
      malformed: ref(digest('3')),
      stop: () => stub.stop(),
    };
  },
};

const METADATA = (name: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`;

const contents: ScanSubject = {
  name: 'contents (layers from docker-registry)',
  async start() {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-scan-contract-'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - pip\n');
    const views = new Set(['default']);
    const loaded = await loadPolicyFiles(
      { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') },
      { grammars, views },
    );
    const policy = new Policy(loaded.rules, new Map([['default', {}]]), grammars, 'request it');
    const registry = await startRegistry();
    const layout = await createLayout();
    const site = 'usr/lib/python3/dist-packages';
    await layout.image('smuggled', { [`${site}/evil-1.0.dist-info/METADATA`]: METADATA('evil') });
    await layout.image('late', { [`${site}/sneaky-1.0.dist-info/METADATA`]: METADATA('sneaky') });
    await layout.image('broken', { [`${site}/pip-23.0.dist-info/METADATA`]: METADATA('pip') });
    const smuggled = await layout.push('smuggled', registry.host, 'team/app:v1');
    // The digest of an image not yet in team/late: the same image pushed elsewhere first.
    const late = await layout.push('late', registry.host, 'staging/late:v1');
    const broken = await layout.push('broken', registry.host, 'team/broken:v1');
    const brokenManifest = JSON.parse(await readFile(registryBlobPath(registry, broken), 'utf8')) as { layers: Array<{ digest: string }> };
    const layerPath = registryBlobPath(registry, brokenManifest.layers[0]!.digest);
    const bytes = await readFile(layerPath);
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0xff;
    await writeFile(layerPath, bytes);
    const provider = async (url: string) =>
      new ContentsProvider(await gateRegistries(gateSchema.parse({ registries: [{ name: 'reg', url }] }), 30_000), () => policy, {
        views: [{ match: '**', view: 'default' }],
      });
    return {
      provider: await provider(registry.url),
      down: async () => provider(`http://127.0.0.1:${await freePort()}`),
      reported: { image: ref(smuggled), finding: 'not-allowed:pypi:evil==1.0' },
      late: {
        image: ref(late, 'team/late'),
        finding: 'not-allowed:pypi:sneaky==1.0',
        arrive: async () => void (await layout.push('late', registry.host, 'team/late:v1')),
      },
      malformed: ref(broken, 'team/broken'),
      async stop() {
        await registry.stop();
        await layout.remove();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

const notScanned = (r: ScanResult | undefined) => {
  expect(r, 'a result for the digest').toBeDefined();
  expect(r!.state).not.toBe('scanned');
  expect(r!.state === 'scanned' ? '' : r!.reason).not.toBe('');
};

describe.each([...DB_MODES.map(reports), defender, contents])('ScanProvider contract: $name', (subject) => {
  let world: ScanWorld;

  beforeAll(async () => {
    world = await subject.start();
  }, 180_000);

  afterAll(async () => {
    await world?.stop();
  });

  it('answers an empty batch with nothing', async () => {
    expect((await world.provider.scan([])).size).toBe(0);
  });

  it('reports the findings of an image it has a result for', async () => {
    const r = (await world.provider.scan([world.reported.image])).get(world.reported.image.digest);
    expect(r?.state).toBe('scanned');
    expect(r?.state === 'scanned' ? r.findings.map((f) => f.id) : []).toContain(world.reported.finding);
  });

  it('never reads a missing result as clean, and picks up the late result once it exists', async () => {
    const batch = [world.reported.image, world.late.image];
    const before = await world.provider.scan(batch);
    expect(before.get(world.reported.image.digest)?.state).toBe('scanned');
    notScanned(before.get(world.late.image.digest));
    await world.late.arrive();
    const after = (await world.provider.scan([world.late.image])).get(world.late.image.digest);
    expect(after?.state).toBe('scanned');
    expect(after?.state === 'scanned' ? after.findings.map((f) => f.id) : []).toContain(world.late.finding);
  });

  it('fails closed on a malformed result: an error, never scanned', async () => {
    const r = (await world.provider.scan([world.malformed])).get(world.malformed.digest);
    notScanned(r);
    expect(r?.state).toBe('error');
  });

  it('fails closed when it cannot be asked: an error for every digest asked', async () => {
    const down = await world.down();
    const images = [world.reported.image, world.late.image];
    const results = await down.scan(images);
    for (const img of images) {
      notScanned(results.get(img.digest));
      expect(results.get(img.digest)?.state).toBe('error');
    }
  });
});
