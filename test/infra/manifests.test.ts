// The Kubernetes manifests agree with Safelist: the ConfigMap's safelist.yaml passes the
// configuration schema, the Deployment runs 3 non-root replicas on the port Safelist listens
// on, and its probes hit endpoints that exist and answer. The Bicep passes settings through
// environment variables that the configuration loader understands.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { configSchema, configSections } from '../../src/ecosystems/index.js';

const INFRA = resolve(import.meta.dirname, '../../infra');
type Doc = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };
const docs = parseAllDocuments(readFileSync(join(INFRA, 'k8s', 'safelist.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
const byKind = (k: string) => docs.find((d) => d.kind === k)!;

describe('Kubernetes manifests', () => {
  let sl: TestSafelist;
  beforeAll(async () => {
    sl = await startTestSafelist();
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('has a Deployment with 3 hardened replicas, a Service, a PodDisruptionBudget and an HPA', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    const dep = byKind('Deployment').spec;
    expect(dep.replicas).toBe(3);
    expect(dep.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(dep.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(byKind('PodDisruptionBudget').spec.minAvailable).toBeLessThan(dep.replicas);
    expect(byKind('HorizontalPodAutoscaler').spec.minReplicas).toBe(3);
  });

  it('carries a configuration that Safelist accepts, listening on the container port', () => {
    const raw = parse(byKind('ConfigMap').data!['safelist.yaml']!);
    const config = configSchema.parse(raw);
    expect(config.storage.kind).toBe('azure');
    const port = byKind('Deployment').spec.template.spec.containers[0].ports[0].containerPort;
    expect(config.server.port).toBe(port);
  });

  it('probes endpoints that exist and answer', async () => {
    const c = byKind('Deployment').spec.template.spec.containers[0];
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      expect((await fetch(`${sl.url}${probe.httpGet.path}`)).status).toBe(200);
    }
    const scrape = byKind('Deployment').spec.template.metadata.annotations['prometheus.io/path'];
    expect((await fetch(`${sl.url}${scrape}`)).status).toBe(200);
  });

  it('uses environment overrides in the Bicep that the configuration loader understands', () => {
    const bicep = readFileSync(join(INFRA, 'bicep', 'main.bicep'), 'utf8');
    const names = [...bicep.matchAll(/name: '(SAFELIST_[A-Z_]+)'/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(2);
    const env: NodeJS.ProcessEnv = { DATABASE_URL: 'postgres://u@h:5432/db' };
    for (const n of names) env[n] = n.endsWith('ACCOUNT_URL') ? 'https://acct.blob.core.windows.net' : n.endsWith('KIND') ? 'azure' : 'value-0123456789abcdef0123';
    const { config } = loadConfig({ sections: configSections,  env, file: undefined } as never);
    expect(config.gate.acrWebhook?.secret).toBe('value-0123456789abcdef0123');
    expect(config.storage).toMatchObject({ kind: 'azure', azure: { accountUrl: 'https://acct.blob.core.windows.net', container: 'value-0123456789abcdef0123' } });
  });
});
