// Runs a real CNCF distribution registry (Debian's docker-registry 2.8) as a child process on
// 127.0.0.1 with a temp config and filesystem storage: the upstream for OCI sync tests and the
// peer in bench/oci-blob.ts. Optionally puts a token gate in front of it that speaks the
// token auth spec (401 + WWW-Authenticate: Bearer realm/service/scope, a /token endpoint,
// then only requests carrying a token issued for the request's repository scope pass).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from './ports.js';
import type { TestCert } from './tls.js';

export interface TestRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as skopeo references want it. */
  host: string;
  /** Root of the filesystem storage (docker/registry/v2/…). */
  storageDir: string;
  /** The docker-registry process (benchmarks read its CPU time). */
  pid: number;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Notification endpoints (the registry POSTs event envelopes to each; header values are lists). */
  notify?: Array<{ name: string; url: string; headers?: Record<string, string> }>;
  /** storage.delete.enabled (default true): DELETE /v2/<name>/manifests/<digest> works. */
  deleteEnabled?: boolean;
  /** Serve HTTPS with this certificate (as Azure SDK clients insist on). */
  tls?: TestCert;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-registry-'));
  const port = await freePort();
  // Only manifest pushes are wanted: in 2.8 ignore.actions works only when a media type is
  // ignored too, and blob events carry application/octet-stream.
  const notifications = opts.notify?.length
    ? [
        'notifications:',
        '  endpoints:',
        ...opts.notify.flatMap((e) => [
          `    - name: ${e.name}`,
          `      url: ${e.url}`,
          ...(e.headers ? ['      headers:', ...Object.entries(e.headers).map(([k, v]) => `        ${k}: [${JSON.stringify(v)}]`)] : []),
          '      timeout: 2s',
          '      threshold: 3',
          '      backoff: 1s',
          '      ignore:',
          '        mediatypes: [application/octet-stream]',
          '        actions: [pull]',
        ]),
      ]
    : [];
  const storageDir = join(dir, 'storage');
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      `    enabled: ${opts.deleteEnabled ?? true}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.tls ? ['  tls:', `    certificate: ${opts.tls.certFile}`, `    key: ${opts.tls.keyFile}`] : []),
      ...notifications,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, 20_000, () => !exited, opts.tls?.cert);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`docker-registry did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    storageDir,
    pid: child.pid!,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Path of a blob's bytes in the registry's filesystem storage. */
export function registryBlobPath(reg: TestRegistry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

export interface TokenGate {
  url: string;
  /** Token requests received, as "service scope". */
  tokenRequests: string[];
  /** Requests refused with a challenge. */
  challenges: number;
  stop(): Promise<void>;
}

/**
 * A reverse proxy in front of a registry that requires Bearer tokens, like mcr.microsoft.com
 * and Docker Hub do for anonymous pulls. Tokens are random, scoped to one repository, and
 * only issued by GET /token?service=…&scope=repository:<name>:pull.
 */
export async function startTokenGate(upstream: TestRegistry, service = 'safelist-test-registry'): Promise<TokenGate> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const issued = new Map<string, string>();
  const gate: TokenGate = { url: base, tokenRequests: [], challenges: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', base);
    if (u.pathname === '/token') {
      const scope = u.searchParams.get('scope') ?? '';
      gate.tokenRequests.push(`${u.searchParams.get('service')} ${scope}`);
      if (u.searchParams.get('service') !== service || !/^repository:[a-z0-9._/-]+:pull$/.test(scope)) {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'bad service or scope' }] }));
      }
      const token = randomBytes(16).toString('hex');
      issued.set(token, scope);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(u.pathname);
    const scope = m ? `repository:${m[1]}:pull` : '';
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const granted = issued.get(token);
    const ok = u.pathname === '/v2/' ? granted !== undefined : granted !== undefined && granted === scope;
    if (!ok) {
      gate.challenges++;
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${base}/token",service="${service}"${scope ? `,scope="${scope}"` : ''}`,
      });
      return res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const proxied = http.request(`${upstream.url}${req.url}`, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    proxied.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(proxied);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  gate.stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return gate;
}
