// A failing image that the registry refuses to delete (docker-registry without
// storage.delete.enabled answers 405 UNSUPPORTED, as a locked ACR image refuses deletes) is
// reported — gate.purge-failed in the audit trail, purge "failed" in the verdict, the failure
// notification carries the registry's answer — never silently kept. Report-only repositories
// are judged but not purged.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHookReceiver, type HookReceiver } from '../support/hook.js';
import { createLayout, sh, type Layout } from '../support/images.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const WEBHOOK_TOKEN = 'registry-webhook-token-0123456789';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';

describe('gate: a purge the registry refuses', () => {
  let registry: TestRegistry;
  let sl: TestSafelist;
  let layout: Layout;
  let hook: HookReceiver;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sl.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const report = (digest: string) => ({
    SchemaVersion: 2,
    Results: [
      {
        Target: 'x',
        Vulnerabilities: [
          {
            VulnerabilityID: 'CVE-2024-6387',
            PkgName: 'openssh-server',
            InstalledVersion: '1:9.2p1-2',
            FixedVersion: '1:9.2p1-2+deb12u3',
            Severity: 'CRITICAL',
          },
        ],
      },
    ],
    Metadata: { RepoDigests: [`x@${digest}`] },
  });

  beforeAll(async () => {
    hook = await startHookReceiver();
    const port = await freePort();
    registry = await startRegistry({
      deleteEnabled: false,
      notify: [
        {
          name: 'safelist',
          url: `http://127.0.0.1:${port}/api/v1/gate/webhooks/distribution`,
          headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` },
        },
      ],
    });
    sl = await startTestSafelist({
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'silent' },
        auth: {
          tokens: [
            { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
            { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline', 'auditor'] },
          ],
        },
        gate: {
          registries: [{ name: 'locked', url: registry.url }],
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
          notify: [{ url: hook.url }],
        },
      },
    });
    await writeFile(
      join(sl.dir, 'allowlists', 'containers.yaml'),
      'severity: critical\nrepositories:\n  - match: "trial/**"\n    reportOnly: true\n',
    );
    layout = await createLayout();
    await layout.image('a', { 'a.txt': 'a\n' });
    await layout.image('b', { 'b.txt': 'b\n' });
  });
  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
    await hook?.stop();
  });

  it('records gate.purge-failed with the registry answer and notifies it', async () => {
    const digest = await layout.push('a', registry.host, 'team/locked:v1');
    expect((await api('POST', `/api/v1/gate/reports/${digest}`, report(digest))).status).toBe(201);
    const v = await until(async () => {
      const r = await api('GET', `/api/v1/gate/verdicts/${digest}`);
      return r.json.purged ? r.json : undefined;
    }, 'the purge attempt');
    expect(v.state).toBe('fail');
    expect(v.purged).toBe('failed');
    const audit = await api('GET', `/api/v1/audit?action=gate.purge-failed&subject=${encodeURIComponent(`locked/team/locked@${digest}`)}`);
    expect(audit.json.records).toHaveLength(1);
    expect(audit.json.records[0].detail.error).toMatch(/DELETE manifest team\/locked@sha256:[0-9a-f]{64} answered 405/);
    const note = await until(() => hook.received.find((n) => n.image?.digest === digest), 'the notification');
    expect(note.purge.outcome).toBe('purge-failed');
    await sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/locked@${digest}`]); // still there, and reported
  });

  it('judges report-only repositories without purging them', async () => {
    const digest = await layout.push('b', registry.host, 'trial/app:v1');
    await api('POST', `/api/v1/gate/reports/${digest}`, report(digest));
    const v = await until(async () => {
      const r = await api('GET', `/api/v1/gate/verdicts/${digest}`);
      return r.json.state && r.json.state !== 'pending' ? r.json : undefined;
    }, 'the verdict');
    expect(v.state).toBe('fail');
    expect(v.verdict.reportOnly).toBe(true);
    expect(v.purged).toBeNull();
    const note = await until(() => hook.received.find((n) => n.image?.digest === digest), 'the notification');
    expect(note.purge).toEqual({ outcome: 'report-only' });
    const audit = await api('GET', `/api/v1/audit?subject=${encodeURIComponent(`locked/trial/app@${digest}`)}`);
    expect(audit.json.records.map((r: { action: string }) => r.action)).toEqual(['gate.received', 'gate.verdict']);
  });
});
