// A local stand-in for Azure Container Registry's data plane, in front of a real docker-registry
// (TLS): what ACR adds to the distribution API, following its documented REST contract, while
// every /v2/ request is served by the real registry behind it.
// - Auth: a 401 challenge `Bearer realm="https://<host>/oauth2/token",service="<host>",scope=…`
//   on every /v2/ and /acr/v1/ request without a token for its scope; POST /oauth2/exchange
//   (Entra access token → ACR refresh token, a JWT with exp) and POST /oauth2/token (refresh
//   token + scope → access token), as @azure/container-registry drives them; GET /oauth2/token
//   with Basic credentials, as docker and skopeo log in (admin user / repository token).
// - Manifest attributes (GET/PATCH /acr/v1/<repo>/_manifests/<digest>): readEnabled=false makes
//   the manifest unreadable (405 REGISTRY_DISALLOWED_OPERATION "The operation is disallowed…"),
//   deleteEnabled=false or writeEnabled=false refuses its DELETE (a locked image). /acr/v1/_catalog and /acr/v1/<repo>/_manifests
//   (newest first) list what the registry's storage holds.
// - The native webhook: after a manifest PUT the registry accepted, one POST of ACR's push
//   payload with the configured custom headers, a 5 s timeout and no retry.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { freePort } from './ports.js';
import type { TestRegistry } from './registry.js';
import type { TestCert } from './tls.js';

export interface AcrFrontOptions {
  /** The Entra access token POST /oauth2/exchange accepts (what the test credential returns). */
  aadToken: string;
  /** Basic credentials GET /oauth2/token accepts (skopeo --creds). */
  user: { username: string; password: string };
  /** Native webhook: service URI and custom headers (scope: every repository, actions: push). */
  webhook?: { url: string; headers: Record<string, string> };
}

export interface ManifestAttributes {
  readEnabled: boolean;
  writeEnabled: boolean;
  deleteEnabled: boolean;
  listEnabled: boolean;
}

export interface AcrFront {
  url: string;
  /** host:port, as skopeo references and webhook request.host carry it. */
  host: string;
  attributes: Map<string, ManifestAttributes>;
  /** "METHOD path" of every request after auth, in order (the SDK's calls, skopeo's pulls). */
  log: string[];
  /** Webhook deliveries: the status the receiver answered (or the error). */
  deliveries: Array<{ digest: string; status: number | string }>;
  /** Scopes the token endpoints granted, in order. */
  grants: string[];
  stop(): Promise<void>;
}

// What ACR answers a locked or read-disabled manifest (405, as quoted in Azure/azure-sdk-for-net#22827).
const DISALLOWED = {
  errors: [
    {
      code: 'REGISTRY_DISALLOWED_OPERATION',
      message:
        'The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation',
      detail: {},
    },
  ],
};
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const jwt = (claims: Record<string, unknown>) =>
  [{ alg: 'none', typ: 'JWT' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.sig';

export async function startAcrFront(registry: TestRegistry, tls: TestCert, opts: AcrFrontOptions): Promise<AcrFront> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const base = `https://${host}`;
  const refreshTokens = new Set<string>();
  const accessTokens = new Map<string, Set<string>>();
  const front: AcrFront = { url: base, host, attributes: new Map(), log: [], deliveries: [], grants: [], stop: async () => undefined };
  const attrs = (digest: string) => {
    let a = front.attributes.get(digest);
    if (!a) front.attributes.set(digest, (a = { readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: true }));
    return a;
  };

  /** One request to the real registry; resolves status, headers and body. */
  const upstream = (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      const req = https.request(`${registry.url}${path}`, { method, headers, ca: tls.cert }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  /** What the registry's storage holds for a repository: every manifest digest, newest first. */
  const manifestsOf = async (name: string) => {
    const dir = join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', name, '_manifests', 'revisions', 'sha256');
    const hexes = await readdir(dir).catch(() => [] as string[]);
    const tags = new Map<string, string[]>();
    const tagList = await upstream('GET', `/v2/${name}/tags/list`);
    for (const tag of tagList.status === 200 ? ((JSON.parse(tagList.body.toString()) as { tags: string[] | null }).tags ?? []) : []) {
      const h = await upstream('HEAD', `/v2/${name}/manifests/${tag}`, { accept: MANIFEST_ACCEPT });
      const d = String(h.headers['docker-content-digest'] ?? '');
      tags.set(d, [...(tags.get(d) ?? []), tag]);
    }
    const out = [];
    for (const hex of hexes) {
      const digest = `sha256:${hex}`;
      const m = await upstream('GET', `/v2/${name}/manifests/${digest}`, { accept: MANIFEST_ACCEPT });
      if (m.status !== 200) continue;
      const when = (await stat(join(dir, hex))).mtime.toISOString();
      const body = JSON.parse(m.body.toString()) as {
        mediaType?: string;
        manifests?: Array<{ digest: string; platform?: { architecture?: string; os?: string } }>;
        config?: { mediaType?: string };
      };
      out.push({
        digest,
        imageSize: m.body.length,
        createdTime: when,
        lastUpdateTime: when,
        mediaType: String(m.headers['content-type'] ?? body.mediaType),
        ...(body.config?.mediaType ? { configMediaType: body.config.mediaType } : {}),
        ...(body.manifests
          ? { references: body.manifests.map((c) => ({ digest: c.digest, architecture: c.platform?.architecture, os: c.platform?.os })) }
          : {}),
        tags: tags.get(digest) ?? [],
        changeableAttributes: attrs(digest),
      });
    }
    return out.sort((a, b) => b.lastUpdateTime.localeCompare(a.lastUpdateTime));
  };

  /** The scope a request needs, from its method and path (undefined: no such endpoint). */
  const scopeOf = (method: string, path: string): string | undefined => {
    if (path === '/v2/') return '';
    if (path === '/v2/_catalog' || path === '/acr/v1/_catalog') return 'registry:catalog:*';
    let m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(path);
    if (m) return `repository:${m[1]}:${method === 'DELETE' ? 'delete' : method === 'GET' || method === 'HEAD' ? 'pull' : 'push'}`;
    m = /^\/acr\/v1\/(.+?)\/_(manifests|tags)(\/|$)/.exec(path);
    if (m) return `repository:${m[1]}:${method === 'GET' ? 'metadata_read' : method === 'DELETE' ? 'delete' : 'metadata_write'}`;
    return undefined;
  };

  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const u = new URL(req.url ?? '/', base);
    // The SDK percent-encodes path parameters (sha256%3A…, team%2Fapp); ACR accepts either.
    u.pathname = decodeURIComponent(u.pathname);
    const method = req.method ?? 'GET';
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(Buffer.concat(chunks)).catch((err: Error) => json(500, { errors: [{ code: 'UNKNOWN', message: err.message }] }));
    });

    const handle = async (body: Buffer) => {
      if (u.pathname === '/oauth2/exchange' && method === 'POST') {
        const form = new URLSearchParams(body.toString());
        if (form.get('grant_type') !== 'access_token' || form.get('access_token') !== opts.aadToken || form.get('service') !== host)
          return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'the Entra token was not accepted' }] });
        const refresh = jwt({
          exp: Math.floor(Date.now() / 1000) + 3 * 3600,
          iss: 'Azure Container Registry',
          aud: host,
          grant_type: 'refresh_token',
        });
        refreshTokens.add(refresh);
        return json(200, { refresh_token: refresh });
      }
      if (u.pathname === '/oauth2/token') {
        let scope: string;
        if (method === 'POST') {
          const form = new URLSearchParams(body.toString());
          if (form.get('grant_type') !== 'refresh_token' || !refreshTokens.has(form.get('refresh_token') ?? ''))
            return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'the refresh token was not accepted' }] });
          scope = form.get('scope') ?? '';
        } else {
          const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
          if (basic !== `${opts.user.username}:${opts.user.password}`)
            return json(
              401,
              { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
              { 'www-authenticate': `Basic realm="${base}/oauth2/token"` },
            );
          scope = u.searchParams.getAll('scope').join(' ');
        }
        const granted = new Set<string>();
        for (const s of scope.split(' ').filter(Boolean)) {
          const [type, name, actions] = [
            s.slice(0, s.indexOf(':')),
            s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')),
            s.slice(s.lastIndexOf(':') + 1),
          ];
          for (const a of actions.split(',')) granted.add(`${type}:${name}:${a}`);
        }
        front.grants.push(...granted);
        const token = randomBytes(16).toString('hex');
        accessTokens.set(token, granted);
        return json(200, { access_token: token, token: token });
      }

      const scope = scopeOf(method, u.pathname);
      if (scope === undefined) return json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not an endpoint of this registry' }] });
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const granted = accessTokens.get(token);
      if (!granted || (scope !== '' && !granted.has(scope))) {
        return json(
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
          {
            'www-authenticate': `Bearer realm="${base}/oauth2/token",service="${host}"${scope ? `,scope="${scope}"` : ''}`,
          },
        );
      }
      front.log.push(`${method} ${u.pathname}`);

      if (u.pathname === '/acr/v1/_catalog') {
        const r = await upstream('GET', '/v2/_catalog');
        return json(200, { repositories: (JSON.parse(r.body.toString()) as { repositories: string[] }).repositories ?? [] });
      }
      let m = /^\/acr\/v1\/(.+?)\/_manifests$/.exec(u.pathname);
      if (m && method === 'GET') return json(200, { registry: host, imageName: m[1], manifests: await manifestsOf(m[1]!) });
      m = /^\/acr\/v1\/(.+?)\/_manifests\/(sha256:[0-9a-f]{64})$/.exec(u.pathname);
      if (m) {
        const found = (await manifestsOf(m[1]!)).find((x) => x.digest === m![2]);
        if (!found) return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
        if (method === 'PATCH') {
          const patch = JSON.parse(body.toString() || '{}') as Partial<ManifestAttributes>;
          for (const k of ['readEnabled', 'writeEnabled', 'deleteEnabled', 'listEnabled'] as const)
            if (typeof patch[k] === 'boolean') attrs(found.digest)[k] = patch[k];
        } else if (method !== 'GET') return json(405, { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed' }] });
        return json(200, { registry: host, imageName: m[1], manifest: { ...found, changeableAttributes: attrs(found.digest) } });
      }

      // The distribution API, served by the real registry.
      const manifest = /^\/v2\/(.+?)\/manifests\/([^/]+)$/.exec(u.pathname);
      const lock = manifest ? front.attributes.get(manifest[2]!) : undefined;
      if (method === 'DELETE' && lock && (!lock.deleteEnabled || !lock.writeEnabled)) return json(405, DISALLOWED);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !['authorization', 'host', 'connection'].includes(k)) headers[k] = v;
      const r = await upstream(method, u.pathname + u.search, headers, body);
      const digest = String(r.headers['docker-content-digest'] ?? '');
      if (manifest && (method === 'GET' || method === 'HEAD') && r.status === 200 && front.attributes.get(digest)?.readEnabled === false)
        return json(405, DISALLOWED);
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(r.headers)) {
        if (v === undefined || k === 'connection' || k === 'transfer-encoding') continue;
        // Upload locations point at the registry: rewrite them to this front.
        out[k] = k === 'location' && typeof v === 'string' ? v.replace(registry.url, base) : v;
      }
      res.writeHead(r.status, out);
      res.end(method === 'HEAD' ? undefined : r.body);
      if (manifest && method === 'PUT' && r.status === 201 && opts.webhook)
        void deliver(manifest[1]!, manifest[2]!, digest, req.headers['content-type'] ?? '', body.length, req.headers['user-agent'] ?? '');
    };
  });

  /** ACR's native webhook: once, 5 s timeout, never retried. */
  const deliver = async (repository: string, reference: string, digest: string, mediaType: string, size: number, useragent: string) => {
    const payload = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType, size, digest, length: size, repository, ...(reference.startsWith('sha256:') ? {} : { tag: reference }) },
      request: { id: randomUUID(), host, method: 'PUT', useragent },
    };
    try {
      const res = await fetch(opts.webhook!.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'AzureContainerRegistry/1.0', ...opts.webhook!.headers },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer();
      front.deliveries.push({ digest, status: res.status });
    } catch (err) {
      front.deliveries.push({ digest, status: (err as Error).message });
    }
  };

  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  front.stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return front;
}
