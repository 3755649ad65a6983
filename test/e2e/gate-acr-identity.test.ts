// The production path of the ACR gate, with nothing injected: `safelist serve` as its own
// process gets its Entra token from DefaultAzureCredential, here through the managed-identity
// endpoint an App Service / Container Apps host provides (IDENTITY_ENDPOINT + IDENTITY_HEADER,
// served by a local stub), and trusts the registry's TLS certificate through
// NODE_EXTRA_CA_CERTS. The token is exchanged at the ACR front (test/support/acr.ts) for ACR
// tokens; the image pushed with skopeo gets its verdict.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcrFront, type AcrFront } from '../support/acr.js';
import { cliArgv, ROOT } from '../support/cli.js';
import { createLayout, type Layout } from '../support/images.js';
import { freePort, waitForHttp } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { selfSignedCert } from '../support/tls.js';
import { until } from '../support/wait.js';
import { seededPgliteYaml } from '../support/databases.js';

const SECRET = 'acr-webhook-secret-0123456789abcdef';
const PIPELINE_TOKEN = 'pipeline-token-0123456789abcdef';
const IDENTITY_HEADER = 'identity-header-secret';
const MSI_TOKEN = 'managed-identity-token-for-arm';
const USER = { username: 'pusher', password: 'push-secret-123' };

describe('gate on ACR from a separate process with a managed identity (DefaultAzureCredential)', () => {
  let dir: string;
  let registry: TestRegistry;
  let front: AcrFront;
  let msi: Server;
  let child: ChildProcess;
  let layout: Layout;
  let url: string;
  const tokenRequests: Array<{ resource: string | null; header: string | undefined }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-gate-msi-'));
    const tls = await selfSignedCert(dir);
    msi = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      tokenRequests.push({ resource: u.searchParams.get('resource'), header: req.headers['x-identity-header'] as string | undefined });
      if (req.headers['x-identity-header'] !== IDENTITY_HEADER) return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          access_token: MSI_TOKEN,
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: u.searchParams.get('resource'),
          token_type: 'Bearer',
          client_id: '00000000-0000-0000-0000-000000000001',
        }),
      );
    });
    await new Promise<void>((r) => msi.listen(0, '127.0.0.1', r));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    registry = await startRegistry({ tls });
    front = await startAcrFront(registry, tls, {
      aadToken: MSI_TOKEN,
      user: USER,
      webhook: { url: `${url}/api/v1/gate/webhooks/acr`, headers: { 'X-Safelist-Webhook-Secret': SECRET } },
    });
    await mkdir(join(dir, 'allowlists'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - pip\n');
    await writeFile(
      join(dir, 'safelist.yaml'),
      [
        `server: { host: 127.0.0.1, port: ${port}, logLevel: warn }`,
        `storage: { kind: fs, path: ${join(dir, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, 'state'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        'sync: { schedule: "" }',
        `auth: { tokens: [{ id: ci, token: ${PIPELINE_TOKEN}, roles: [pipeline] }] }`,
        'gate:',
        `  registries: [{ name: acr, url: "${front.url}", kind: acr }]`,
        `  acrWebhook: { secret: ${SECRET} }`,
        '  providers: [contents]',
        '  contents: { views: [{ match: "**", view: default }] }',
        '  pollBase: 200ms',
        '  pollMax: 1s',
        '  reconcileSchedule: ""',
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_EXTRA_CA_CERTS: tls.certFile,
      IDENTITY_ENDPOINT: `http://127.0.0.1:${(msi.address() as { port: number }).port}/msi/token`,
      IDENTITY_HEADER,
    };
    for (const k of Object.keys(env)) if (/^AZURE_/.test(k)) delete env[k];
    child = spawn(process.execPath, cliArgv('--config', join(dir, 'safelist.yaml'), 'serve'), {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForHttp(`${url}/healthz`, 60_000, () => child.exitCode === null);
    layout = await createLayout();
    await layout.image('clean', {
      'usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\n',
    });
  }, 120_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await front?.stop();
    await registry?.stop();
    await layout?.remove();
    await new Promise<void>((r) => {
      msi?.closeAllConnections();
      msi?.close(() => r());
    });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('judges a pushed image with an ARM-audience managed-identity token exchanged for ACR tokens', async () => {
    const digest = await layout.push('clean', front.host, 'team/app:v1', { creds: `${USER.username}:${USER.password}` });
    const v = await until(async () => {
      const res = await fetch(`${url}/api/v1/gate/verdicts/${digest}`, { headers: { authorization: `Bearer ${PIPELINE_TOKEN}` } });
      const body = (await res.json()) as Record<string, any>;
      return res.status === 200 && body.state !== 'pending' ? body : undefined;
    }, 'the verdict');
    expect(v.state).toBe('pass');
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests[0]).toEqual({ resource: 'https://management.azure.com', header: IDENTITY_HEADER });
    expect(front.log).toContain(`GET /v2/team/app/manifests/${digest}`);
  });
});
