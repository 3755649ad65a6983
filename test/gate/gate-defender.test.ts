// The Defender for Containers provider with the real @azure/arm-resourcegraph client against a
// local HTTPS stub of Azure Resource Graph (self-signed certificate trusted through the SDK's
// tlsOptions; a fake TokenCredential, since the SDK only sends bearer tokens over TLS). Covers
// both result shapes (grouped sub-assessments, per-finding SoftwareUpdate assessments), healthy,
// unhealthy with several severities, not scanned yet, NotApplicable, 429 with Retry-After and
// the quota headers, server errors, unknown shapes, paging, and one query per batch of digests.
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DefenderProvider, defenderQuery } from '../../src/gate/providers/defender.js';
import type { ImageRef, ScanResult } from '../../src/gate/types.js';
import { FAKE_ARM_TOKEN, startDefenderStub, type DefenderStub } from '../support/defender.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const img = (digest: string): ImageRef => ({ registry: 'acr', repository: 'team/app', digest });
const credential: TokenCredential = { getToken: async () => ({ token: FAKE_ARM_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('Defender for Containers provider (Azure Resource Graph)', () => {
  let stub: DefenderStub;
  let clock: number;
  const provider = () =>
    new DefenderProvider(
      new ResourceGraphClient(credential, { endpoint: stub.url, tlsOptions: { ca: stub.ca }, retryOptions: { maxRetries: 0 } }),
      { subscriptions: ['0000'], now: () => clock },
    );
  const scanOne = async (p: DefenderProvider, digest: string): Promise<ScanResult> => (await p.scan([img(digest)])).get(digest)!;

  beforeAll(async () => {
    stub = await startDefenderStub();
  });
  afterAll(async () => {
    await stub?.stop();
  });
  beforeEach(() => {
    stub.scenarios.clear();
    stub.forced.length = 0;
    stub.requests.length = 0;
    stub.pageSize = 1000;
    stub.quotaRemaining = 14;
    clock = Date.parse('2026-11-25T12:00:00Z');
  });

  it('reads the grouped sub-assessment shape: unhealthy findings with their severities and fix state', async () => {
    stub.scenarios.set(d('1'), {
      kind: 'grouped',
      findings: [
        { cve: 'CVE-2022-42969', severity: 'High', fixStatus: 'NoFixAvailable' },
        { cve: 'CVE-2024-0001', severity: 'Critical', fixedVersion: '1.12.0', package: 'requests' },
        { cve: 'CVE-2024-0002', severity: 'Low', fixedVersion: '2.0' },
      ],
    });
    const r = await scanOne(provider(), d('1'));
    expect(r.state).toBe('scanned');
    const findings = r.state === 'scanned' ? r.findings : [];
    expect(findings.map((f) => [f.id, f.severity, f.fixable])).toEqual([
      ['CVE-2022-42969', 'high', false],
      ['CVE-2024-0001', 'critical', true],
      ['CVE-2024-0002', 'low', true],
    ]);
    expect(findings[1]).toMatchObject({
      package: 'requests',
      installedVersion: '1.11.0.0',
      fixedVersion: '1.12.0',
      publishedAt: '2022-10-16T06:15:00Z',
      source: 'defender',
    });
    expect(stub.requests[0]!.apiVersion).toBe('2024-04-01');
    expect(stub.requests[0]!.body.subscriptions).toEqual(['0000']);
  });

  it('reads the fix release date of grouped OS findings (softwareDetails.fixReference.releaseDate)', async () => {
    stub.scenarios.set(d('9'), {
      kind: 'grouped',
      findings: [
        {
          cve: 'CVE-2023-28484',
          severity: 'Medium',
          fixedVersion: '2.9.13+dfsg-1ubuntu0.3',
          package: 'libxml2',
          fixReference: { id: 'USN-6115-1', releaseDate: '2023-05-30T00:00:00Z' },
        },
        { cve: 'CVE-2024-0003', severity: 'Low', fixedVersion: '1.0' },
      ],
    });
    const r = await scanOne(provider(), d('9'));
    const findings = r.state === 'scanned' ? r.findings : [];
    expect(findings.map((f) => [f.id, f.fixReleasedAt])).toEqual([
      ['CVE-2023-28484', '2023-05-30T00:00:00Z'],
      ['CVE-2024-0003', undefined],
    ]);
  });

  it('reads the per-finding SoftwareUpdate shape, with CvesDetails as a JSON string or an array', async () => {
    stub.scenarios.set(d('2'), {
      kind: 'individual',
      status: 'Unhealthy',
      software: 'openssl',
      cves: [
        { id: 'CVE-2024-5535', severity: 'Medium', fixedVersion: '3.0.14' },
        { id: 'CVE-2024-9143', severity: 'High', fixStatus: 'NoFix' },
      ],
    });
    stub.scenarios.set(d('3'), {
      kind: 'individual',
      status: 'Unhealthy',
      cvesAsString: false,
      cves: [{ id: 'CVE-2023-0001', severity: 'Critical', fixedVersion: '1.1' }],
    });
    const res = await provider().scan([img(d('2')), img(d('3'))]);
    expect(stub.requests).toHaveLength(1); // one query for the whole batch
    const two = res.get(d('2'))!;
    expect(two.state === 'scanned' && two.findings.map((f) => [f.id, f.severity, f.package, f.installedVersion, f.fixable])).toEqual([
      ['CVE-2024-5535', 'medium', 'openssl', '3.0.2', true],
      ['CVE-2024-9143', 'high', 'openssl', '3.0.2', false],
    ]);
    const three = res.get(d('3'))!;
    expect(three.state === 'scanned' && three.findings.map((f) => f.id)).toEqual(['CVE-2023-0001']);
  });

  it('treats a Healthy image as scanned and clean, in both shapes', async () => {
    stub.scenarios.set(d('4'), { kind: 'individual', status: 'Healthy' });
    stub.scenarios.set(d('5'), { kind: 'grouped', findings: [{ cve: 'CVE-2020-1', severity: 'High', code: 'Healthy' }] });
    const res = await provider().scan([img(d('4')), img(d('5'))]);
    expect(res.get(d('4'))).toEqual({ state: 'scanned', findings: [], source: 'defender' });
    expect(res.get(d('5'))).toEqual({ state: 'scanned', findings: [], source: 'defender' });
  });

  it('says "not scanned yet" when Defender has no row for a digest: a state, never a pass', async () => {
    const r = await scanOne(provider(), d('6'));
    expect(r.state).toBe('pending');
    expect(r.state === 'pending' && r.reason).toMatch(/no result for sha256:6{64} yet .*Registry access/);
  });

  it('never reads NotApplicable as clean (a Defender-side exemption or an image it did not assess)', async () => {
    stub.scenarios.set(d('7'), { kind: 'grouped', findings: [{ cve: 'CVE-2022-42969', severity: 'High', code: 'NotApplicable' }] });
    stub.scenarios.set(d('8'), { kind: 'individual', status: 'NotApplicable' });
    const res = await provider().scan([img(d('7')), img(d('8'))]);
    expect(res.get(d('7'))).toMatchObject({
      state: 'error',
      reason: expect.stringMatching(/NotApplicable \(Exempt: Disabled parent assessment\).*not a clean result/),
    });
    expect(res.get(d('8'))).toMatchObject({ state: 'error', reason: expect.stringMatching(/NotApplicable/) });
  });

  it('treats an unknown shape as an error, never as clean', async () => {
    stub.scenarios.set(d('9'), { kind: 'unknown-shape' });
    stub.scenarios.set(d('a'), { kind: 'individual', status: 'Healthy' });
    const res = await provider().scan([img(d('9')), img(d('a'))]);
    expect(res.get(d('9'))).toMatchObject({
      state: 'error',
      reason: expect.stringMatching(/unknown sub-assessment shape \(assessedResourceType ContainerRegistryVulnerability\)/),
    });
    expect(res.get(d('a'))!.state).toBe('scanned');
  });

  it('honours 429 with Retry-After: no query until it has passed', async () => {
    stub.forced.push({
      status: 429,
      headers: { 'retry-after': '7', 'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '00:00:07' },
    });
    stub.scenarios.set(d('b'), { kind: 'individual', status: 'Healthy' });
    const p = provider();
    expect(await scanOne(p, d('b'))).toEqual({
      state: 'error',
      reason: 'Resource Graph throttled the query (429); retrying after 7 s',
      retryAfterMs: 7000,
    });
    expect(await scanOne(p, d('b'))).toMatchObject({ state: 'error', retryAfterMs: 7000 });
    expect(stub.requests).toHaveLength(1);
    clock += 7000;
    expect((await scanOne(p, d('b'))).state).toBe('scanned');
    expect(stub.requests).toHaveLength(2);
  });

  it('waits for the quota window when x-ms-user-quota-remaining reaches 0', async () => {
    stub.quotaRemaining = 0;
    stub.scenarios.set(d('c'), { kind: 'individual', status: 'Healthy' });
    const p = provider();
    expect((await scanOne(p, d('c'))).state).toBe('scanned');
    expect(await scanOne(p, d('c'))).toMatchObject({ state: 'error', retryAfterMs: 5000 });
    expect(stub.requests).toHaveLength(1);
  });

  it('reports a server error as an error for every digest of the batch', async () => {
    stub.forced.push({ status: 500 });
    stub.scenarios.set(d('d'), { kind: 'individual', status: 'Healthy' });
    const res = await provider().scan([img(d('d')), img(d('e'))]);
    expect(res.get(d('d'))).toMatchObject({ state: 'error', reason: expect.stringMatching(/^Resource Graph query failed \(500\)/) });
    expect(res.get(d('e'))!.state).toBe('error');
  });

  it('follows $skipToken paging', async () => {
    stub.pageSize = 2;
    stub.scenarios.set(d('f'), {
      kind: 'grouped',
      findings: ['CVE-1', 'CVE-2', 'CVE-3', 'CVE-4', 'CVE-5'].map((cve) => ({ cve, severity: 'Medium' })),
    });
    const r = await scanOne(provider(), d('f'));
    expect(r.state === 'scanned' && r.findings.map((f) => f.id)).toEqual(['CVE-1', 'CVE-2', 'CVE-3', 'CVE-4', 'CVE-5']);
    expect(stub.requests.map((q) => typeof q.body.options?.$skipToken)).toEqual(['undefined', 'string', 'string']);
  });

  it('asks for every pending digest in one query, quoted, never interpolating anything else', () => {
    const q = defenderQuery([d('1'), d('2')]);
    expect(q).toContain(`| where digest in ("${d('1')}", "${d('2')}")`);
    expect(q).toMatch(/recommendationCategory == "SoftwareUpdate"/);
    expect(q).toMatch(/AzureContainerRegistryVulnerability/);
  });
});
