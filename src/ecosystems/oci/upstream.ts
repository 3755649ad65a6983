// Client for an upstream registry speaking the distribution API: tags (paginated with n/last
// and Link), manifests and blobs. Handles the token auth flow: a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by asking the realm for a
// token (anonymously, or with the configured credentials) and retrying once; Basic challenges
// use the configured credentials. Tokens are cached per scope until they expire.
// Never trusts a manifest it cannot verify: by-digest reads are checked against the digest.
import { PassThrough, pipeline, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { OciUpstreamConfig } from '../../config/schema.js';
import { sha256OfBuffer } from '../../catalog/ingest.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import { describeFetchFailure } from '../../upstream/fetch-failure.js';

export class UpstreamError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export class OciUpstream {
  readonly name: string;
  private readonly base: string;
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(
    private readonly cfg: OciUpstreamConfig,
    private readonly timeoutMs: number,
  ) {
    this.name = cfg.name;
    this.base = cfg.url.replace(/\/+$/, '');
  }

  private basicAuth(): string | undefined {
    if (this.cfg.username === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ''}`).toString('base64')}`;
  }

  private async token(challenge: Record<string, string>, fallbackScope: string): Promise<string> {
    const scope = challenge.scope ?? fallbackScope;
    const key = `${challenge.realm}|${challenge.service ?? ''}|${scope}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    if (!challenge.realm) throw new UpstreamError(401, `${this.name}: a Bearer challenge without a realm; cannot request a token`);
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basicAuth();
    if (basic) headers.authorization = basic;
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) }).catch((err: unknown) => {
      throw new UpstreamError(
        undefined,
        `${this.name}: token service unreachable at ${url.origin}${url.pathname}: ${describeFetchFailure(err, this.timeoutMs)}`,
      );
    });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
      throw new UpstreamError(
        res.status,
        `${this.name}: the token service ${url.origin}${url.pathname} answered ${res.status} for scope "${scope}"${basic ? ' (check oci.upstreams credentials)' : ''}`,
      );
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamError(undefined, `${this.name}: the token service answered without a token`);
    // The spec's default lifetime is 60 s; keep a margin so a token never expires mid-request.
    const lifetime = Math.max(10, (body.expires_in ?? 60) - 10) * 1000;
    this.tokens.set(key, { token, expires: Date.now() + lifetime });
    return token;
  }

  /** One request with the challenge flow; the caller consumes the body. */
  private async request(
    path: string,
    repository: string,
    init: { method?: string; headers?: Record<string, string>; timeout?: boolean; signal?: AbortSignal; actions?: string } = {},
  ): Promise<Response> {
    const url = `${this.base}${path}`;
    // The catalog has its own scope (registry:catalog:*); everything else is per repository.
    const scope = init.actions === 'catalog' ? 'registry:catalog:*' : `repository:${repository}:${init.actions ?? 'pull'}`;
    const send = (auth?: string) =>
      fetch(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(auth ? { authorization: auth } : {}) },
        ...(init.timeout === false ? (init.signal ? { signal: init.signal } : {}) : { signal: AbortSignal.timeout(this.timeoutMs) }),
      }).catch((err: unknown) => {
        throw new UpstreamError(undefined, `${this.name}: upstream unreachable at ${url}: ${describeFetchFailure(err, this.timeoutMs)}`);
      });
    let res = await send(this.cachedAuth(scope));
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
      await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
      let auth: string | undefined;
      if (challenge?.scheme === 'bearer') auth = `Bearer ${await this.token(challenge.params, scope)}`;
      else if (challenge?.scheme === 'basic') auth = this.basicAuth();
      if (!auth)
        throw new UpstreamError(
          401,
          `${this.name}: ${url} requires authentication; set username and password for this upstream in oci.upstreams`,
        );
      res = await send(auth);
      if (res.status === 401) {
        await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
        throw new UpstreamError(401, `${this.name}: ${url} refused the token it asked for (401); check the upstream's credentials`);
      }
    }
    return res;
  }

  private cachedAuth(scope: string): string | undefined {
    for (const [key, t] of this.tokens) if (key.endsWith(`|${scope}`) && t.expires > Date.now()) return `Bearer ${t.token}`;
    return undefined;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => '');
    let detail = '';
    try {
      const errs = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors;
      if (errs?.length) detail = `: ${errs.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; ')}`;
    } catch {
      /* not an error body */
    }
    throw new UpstreamError(res.status, `${this.name}: ${what} answered ${res.status}${detail}`);
  }

  /** Repository names from /v2/_catalog (following Link pagination), up to `max`. */
  async repositories(max = 10_000): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = `/v2/_catalog?n=${Math.min(max, 1000)}`;
    while (path && out.length < max) {
      const res = await this.request(path, '', { actions: 'catalog' });
      if (!res.ok) await this.fail(res, '_catalog');
      const body = (await res.json()) as { repositories?: string[] | null };
      out.push(...(body.repositories ?? []));
      const link = res.headers.get('link');
      const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      path = next ? (next.startsWith('/') ? next : new URL(next).pathname + new URL(next).search) : undefined;
    }
    return out.slice(0, max);
  }

  /** Every tag of a repository (following Link pagination); undefined when the repository does not exist. */
  async tags(repository: string): Promise<string[] | undefined> {
    const out: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path && page < 10_000; page++) {
      const res = await this.request(path, repository);
      if (res.status === 404) {
        await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
        return page === 0 ? undefined : out;
      }
      if (!res.ok) await this.fail(res, `tags/list of ${repository}`);
      const body = (await res.json()) as { tags?: string[] | null };
      out.push(...(body.tags ?? []));
      const link = res.headers.get('link');
      const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      path = next ? (next.startsWith('/') ? next : new URL(next).pathname + new URL(next).search) : undefined;
    }
    return out;
  }

  /** A manifest by tag or digest; by digest, the bytes must hash to it. */
  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, repository, { headers: { accept: MANIFEST_ACCEPT } });
    if (!res.ok) await this.fail(res, `manifest ${repository}:${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${sha256OfBuffer(bytes)}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new UpstreamError(undefined, `${this.name}: manifest ${repository}@${reference} has sha256 ${digest}; refusing it`);
    }
    const announced = res.headers.get('docker-content-digest');
    if (announced && announced !== digest) {
      throw new UpstreamError(
        undefined,
        `${this.name}: manifest ${repository}:${reference} announced digest ${announced} but its bytes hash to ${digest}; refusing it`,
      );
    }
    return { bytes, digest, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim() };
  }

  /**
   * Deletes a manifest by digest (DELETE /v2/<name>/manifests/<digest>; the registry must allow
   * deletes). Resolves 'deleted', or 'absent' when the registry no longer has it.
   */
  async deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'> {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new UpstreamError(undefined, `${this.name}: manifests are deleted by digest only, not ${digest}`);
    const res = await this.request(`/v2/${repository}/manifests/${digest}`, repository, { method: 'DELETE', actions: 'delete' });
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
      return 'absent';
    }
    if (!res.ok) await this.fail(res, `DELETE manifest ${repository}@${digest}`);
    await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
    return 'deleted';
  }

  /**
   * A blob's bytes as a stream (verified by the caller while storing). Large layers take as
   * long as they take; a download that stalls for the sync timeout is aborted.
   */
  async blob(repository: string, digest: string): Promise<Readable> {
    const stall = new AbortController();
    const res = await this.request(`/v2/${repository}/blobs/${digest}`, repository, { timeout: false, signal: stall.signal });
    if (!res.ok) await this.fail(res, `blob ${repository}@${digest}`);
    if (!res.body) throw new UpstreamError(res.status, `${this.name}: blob ${repository}@${digest} has no body`);
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    // A pass-through that re-arms a stall timer on every chunk (listening for 'data' on the
    // body itself would start it flowing before the caller pipes it).
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new PassThrough({
      transform(chunk: Buffer, _enc, cb) {
        arm();
        cb(null, chunk);
      },
    });
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stall.abort();
        watchdog.destroy(
          new UpstreamError(undefined, `${this.name}: blob ${repository}@${digest} stalled: no bytes for ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
    };
    arm();
    watchdog.once('close', () => clearTimeout(timer));
    return pipeline(body, watchdog, () => clearTimeout(timer));
  }
}
