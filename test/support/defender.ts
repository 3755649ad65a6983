// A local HTTPS stand-in for Azure Resource Graph (the Azure control plane is the one part the
// gate tests do not run for real): POST /providers/Microsoft.ResourceGraph/resources?api-version=…
// with a bearer token, answering {totalRecords, count, resultTruncated, skipToken?, data} in
// objectArray format, with the x-ms-user-quota-* headers ARG sends. Rows are shaped like
// Defender's documented payloads: the grouped sub-assessment sample (learn: "Container
// vulnerability assessments with the REST API") and the per-finding SoftwareUpdate assessment
// of a .containerimage (transition doc + field-tested third-party queries). The stub cannot run
// KQL: it answers for the digests quoted in the query, from the scenario set for each.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCert } from './tls.js';

export const FAKE_ARM_TOKEN = 'fake-arm-token';

export type DefenderScenario =
  | { kind: 'not-scanned' }
  | {
      kind: 'grouped';
      findings: Array<{
        cve: string;
        severity: string;
        code?: 'Unhealthy' | 'Healthy' | 'NotApplicable';
        fixStatus?: string;
        fixedVersion?: string;
        package?: string;
        fixReference?: { id: string; releaseDate: string };
      }>;
    }
  | {
      kind: 'individual';
      status: 'Healthy' | 'Unhealthy' | 'NotApplicable';
      software?: string;
      cves?: Array<{ id: string; severity: string; fixStatus?: string; fixedVersion?: string }>;
      cvesAsString?: boolean;
    }
  | { kind: 'unknown-shape' };

export interface ForcedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface DefenderStub {
  url: string;
  /** PEM of the stub's self-signed certificate (trust it as a CA). */
  ca: string;
  scenarios: Map<string, DefenderScenario>;
  /** Responses served before any scenario, in order (429, 500 …). */
  forced: ForcedResponse[];
  requests: Array<{ apiVersion: string | null; body: { query: string; subscriptions?: string[]; options?: Record<string, unknown> } }>;
  /** Rows per page; more rows are paged with $skipToken. */
  pageSize: number;
  /** x-ms-user-quota-remaining sent on successful answers. */
  quotaRemaining: number;
  stop(): Promise<void>;
}

const REGISTRY = 'gatetest.azurecr.io';

function groupedRow(digest: string, repository: string, f: Extract<DefenderScenario, { kind: 'grouped' }>['findings'][number]) {
  const sub = randomUUID();
  return {
    id: `/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/gatetest/providers/Microsoft.Security/assessments/c0b7cfc6-3172-465a-b378-53c7ff2cc0d5/subassessments/${sub}`,
    name: sub,
    type: 'microsoft.security/assessments/subassessments',
    tenantId: '1111',
    location: 'global',
    resourceGroup: 'rg',
    subscriptionId: '0000',
    properties: {
      id: f.cve,
      displayName: f.cve,
      description: `This vulnerability affects ${f.package ?? 'py'}.`,
      remediation: f.fixedVersion ? `Upgrade to ${f.fixedVersion}` : 'No remediation exists',
      resourceDetails: { id: `/repositories/${repository}/images/${digest}`, source: 'Azure' },
      timeGenerated: '2026-11-25T09:36:15.0772799Z',
      status:
        f.code === 'NotApplicable'
          ? { code: 'NotApplicable', severity: f.severity, cause: 'Exempt', description: 'Disabled parent assessment' }
          : { code: f.code ?? 'Unhealthy', severity: f.severity },
      additionalData: {
        assessedResourceType: 'AzureContainerRegistryVulnerability',
        cvssV30Score: 7.5,
        vulnerabilityDetails: {
          cveId: f.cve,
          severity: f.severity,
          exploitabilityAssessment: {
            exploitStepsPublished: false,
            exploitStepsVerified: false,
            isInExploitKit: false,
            exploitUris: [],
            types: ['Remote'],
          },
          publishedDate: '2022-10-16T06:15:00Z',
          lastModifiedDate: '2023-09-12T00:00:00Z',
          workarounds: [],
          references: [{ title: f.cve, link: `https://nvd.nist.gov/vuln/detail/${f.cve}` }],
        },
        artifactDetails: {
          registryHost: REGISTRY,
          repositoryName: repository,
          digest,
          tags: ['v1'],
          artifactType: 'ContainerImage',
          mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
          lastPushedToRegistryUTC: '2026-11-25T08:05:32.8223098Z',
        },
        softwareDetails: {
          category: 'Language',
          language: 'python',
          packageName: f.package ?? 'py',
          vendor: 'py',
          version: '1.11.0.0',
          fixedVersion: f.fixedVersion ?? '',
          fixStatus: f.fixStatus ?? 'FixAvailable',
          evidence: [],
          osDetails: { osPlatform: 'linux', osVersion: 'ubuntu_linux_20.04' },
          // OS findings name the advisory that shipped the fix (documented: fixReference{id, description, releaseDate, url}).
          ...(f.fixReference
            ? {
                category: 'OS',
                fixReference: {
                  id: f.fixReference.id,
                  description: `${f.fixReference.id}: security update`,
                  releaseDate: f.fixReference.releaseDate,
                  url: `https://ubuntu.com/security/notices/${f.fixReference.id}`,
                },
              }
            : {}),
        },
      },
    },
  };
}

function individualRow(digest: string, repository: string, s: Extract<DefenderScenario, { kind: 'individual' }>) {
  const key = randomUUID();
  const cves = (s.cves ?? []).map((c) => ({
    CveId: c.id,
    Severity: c.severity,
    FixStatus: c.fixStatus ?? 'FixAvailable',
    FixedVersion: c.fixedVersion ?? '',
    Description: `${c.id} description`,
    PublishedDate: '2025-03-01T00:00:00Z',
    Cvss: [{ Value: { Base: 7.5 } }],
  }));
  return {
    id: `/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/gatetest/repositories-${repository.replace(/\//g, '-')}-images-${digest.replace(':', '-')}/providers/Microsoft.Security/assessments/${key}`,
    name: key,
    type: 'microsoft.security/assessments',
    tenantId: '1111',
    location: 'global',
    resourceGroup: 'rg',
    subscriptionId: '0000',
    properties: {
      displayName: `${s.software ?? 'openssl'} should be updated`,
      status:
        s.status === 'NotApplicable'
          ? { code: 'NotApplicable', cause: 'OffByPolicy', description: 'Unsupported image type' }
          : { code: s.status },
      metadata: { recommendationCategory: 'SoftwareUpdate', severity: 'High', assessmentType: 'BuiltIn' },
      resourceDetails: {
        Source: 'Azure',
        ResourceType: '.containerimage',
        ResourceProvider: 'Microsoft.ContainerRegistry',
        ResourceName: `${repository}@${digest}`,
        Id: `/repositories/${repository}/images/${digest}`,
      },
      // ARG returns this as a JSON string (the queries parse_json(tostring(...)) it).
      resourceAdditionalData: JSON.stringify({
        Digest: digest,
        RepositoryDetails: { RepositoryName: repository, LastPushedToRegistryUTC: '2026-11-25T08:05:32Z' },
        RegistryHost: REGISTRY,
      }),
      additionalData: {
        SoftwareName: s.software ?? 'openssl',
        DetectedSoftwareVersions: ['3.0.2'],
        FixedVersion: s.cves?.[0]?.fixedVersion ?? '',
        FixStatus: s.cves?.[0]?.fixStatus ?? 'FixAvailable',
        PackageType: 'Os',
        CvesDetails: s.cvesAsString === false ? cves : JSON.stringify(cves),
        ScannersDetails: JSON.stringify({ mdvm: { DetectedSoftwareVersions: ['3.0.2'] } }),
      },
    },
  };
}

function rowsFor(digest: string, s: DefenderScenario): unknown[] {
  const repository = 'team/app';
  switch (s.kind) {
    case 'not-scanned':
      return [];
    case 'grouped':
      return s.findings.map((f) => groupedRow(digest, repository, f));
    case 'individual':
      return [individualRow(digest, repository, s)];
    case 'unknown-shape':
      return [
        {
          id: `/x/${digest}`,
          type: 'microsoft.security/assessments/subassessments',
          properties: {
            status: { code: 'Unhealthy' },
            additionalData: { assessedResourceType: 'ContainerRegistryVulnerability', imageDigest: digest, artifactDetails: { digest } },
          },
        },
      ];
  }
}

export async function startDefenderStub(): Promise<DefenderStub> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-defender-'));
  const { cert: ca, key } = await selfSignedCert(dir);
  const pages = new Map<string, unknown[]>();
  const stub: DefenderStub = {
    url: '',
    ca,
    scenarios: new Map(),
    forced: [],
    requests: [],
    pageSize: 1000,
    quotaRemaining: 14,
    stop: async () => undefined,
  };
  const server = https.createServer({ key, cert: ca }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), ...headers });
      res.end(JSON.stringify(body));
    };
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${FAKE_ARM_TOKEN}`)
        return json(401, {
          error: { code: 'AuthenticationFailed', message: 'Authentication failed. The Authorization header is missing or invalid.' },
        });
      if (req.method !== 'POST' || url.pathname !== '/providers/Microsoft.ResourceGraph/resources')
        return json(404, { error: { code: 'NotFound', message: `${req.method} ${url.pathname}` } });
      if (!url.searchParams.get('api-version'))
        return json(400, {
          error: {
            code: 'MissingApiVersionParameter',
            message: 'The api-version query parameter (?api-version=) is required for all requests.',
          },
        });
      let body: DefenderStub['requests'][number]['body'];
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        return json(400, { error: { code: 'InvalidRequestContent', message: 'not JSON' } });
      }
      stub.requests.push({ apiVersion: url.searchParams.get('api-version'), body });
      const forced = stub.forced.shift();
      if (forced)
        return json(
          forced.status,
          forced.body ?? {
            error: { code: forced.status === 429 ? 'RateLimiting' : 'InternalServerError', message: `forced ${forced.status}` },
          },
          forced.headers,
        );
      if (typeof body.query !== 'string') return json(400, { error: { code: 'BadRequest', message: 'query is required' } });
      const token = body.options?.$skipToken as string | undefined;
      let rows: unknown[];
      if (token) {
        rows = pages.get(token) ?? [];
        pages.delete(token);
      } else {
        const digests = [...body.query.matchAll(/"(sha256:[0-9a-f]{64})"/g)].map((m) => m[1]!);
        rows = digests.flatMap((d) => rowsFor(d, stub.scenarios.get(d) ?? { kind: 'not-scanned' }));
      }
      const page = rows.slice(0, stub.pageSize);
      const rest = rows.slice(stub.pageSize);
      let skipToken: string | undefined;
      if (rest.length) {
        skipToken = randomUUID();
        pages.set(skipToken, rest);
      }
      json(
        200,
        {
          totalRecords: rows.length,
          count: page.length,
          resultTruncated: 'false',
          ...(skipToken ? { $skipToken: skipToken } : {}),
          data: page,
          facets: [],
        },
        {
          'x-ms-user-quota-remaining': String(stub.quotaRemaining),
          'x-ms-user-quota-resets-after': '00:00:05',
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stub.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  stub.stop = async () => {
    await new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
    await rm(dir, { recursive: true, force: true });
  };
  return stub;
}
