// Client for an upstream registry speaking the distribution API: tags (paginated with n/last
// and Link), manifests and blobs. Handles the token auth flow: a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by asking the realm for a
// token (anonymously, or with the configured credentials) and retrying once; Basic challenges
// use the configured credentials. Tokens are cached per scope until they expire.
// Never trusts a manifest it cannot verify: by-digest reads are checked against the digest.
import type { OciUpstreamConfig } from './config.js';
import { sha256OfBuffer } from '../../catalog/ingest.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import { drain, guardBody, send, statusError, StallTimer, unreachable, withRetries } from '../../upstream/http.js';
import { UPSTREAM, UpstreamError, type UpstreamBody, type UpstreamClient, type UpstreamOptions } from '../../upstream/types.js';

/** A blob to open: its repository and digest (the bytes are always checked against the digest). */
export interface OciBlobRef {
  repository: string;
  digest: string;
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

/** The index of a name is its repository's tags. */
export class OciUpstream implements UpstreamClient<string[], OciBlobRef> {
  readonly name: string;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(
    private readonly cfg: OciUpstreamConfig,
    private readonly opts: UpstreamOptions,
  ) {
    this.name = cfg.name;
    this.base = cfg.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs;
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
    if (!challenge.realm)
      throw new UpstreamError(this.name, UPSTREAM.DENIED, `${this.name}: a Bearer challenge without a realm; cannot request a token`, {
        status: 401,
      });
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basicAuth();
    if (basic) headers.authorization = basic;
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) }).catch((err: unknown) => {
      throw unreachable(this.name, `${url.origin}${url.pathname}`, err, this.timeoutMs);
    });
    if (!res.ok) {
      const message = `${this.name}: the token service ${url.origin}${url.pathname} answered ${res.status} for scope "${scope}"${basic ? ' (check oci.upstreams credentials)' : ''}`;
      const err = await statusError(this.name, res, message);
      // A token service that refuses what the registry asked it for denies us, whatever its status.
      throw err.code === UPSTREAM.BAD_RESPONSE || err.code === UPSTREAM.NOT_FOUND
        ? new UpstreamError(this.name, UPSTREAM.DENIED, message, { status: res.status })
        : err;
    }
    const body = (await res.json().catch((err: unknown) => {
      throw new UpstreamError(this.name, UPSTREAM.BAD_RESPONSE, `${this.name}: the token service answered with a body that is not JSON`, {
        cause: err,
      });
    })) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamError(this.name, UPSTREAM.BAD_RESPONSE, `${this.name}: the token service answered without a token`);
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
    const once = (auth?: string) =>
      send(
        this.name,
        url,
        {
          method: init.method ?? 'GET',
          headers: { ...init.headers, ...(auth ? { authorization: auth } : {}) },
          ...(init.timeout === false ? (init.signal ? { signal: init.signal } : {}) : { signal: AbortSignal.timeout(this.timeoutMs) }),
        },
        this.timeoutMs,
      );
    let res = await once(this.cachedAuth(scope));
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
      await drain(res);
      let auth: string | undefined;
      if (challenge?.scheme === 'bearer') auth = `Bearer ${await this.token(challenge.params, scope)}`;
      else if (challenge?.scheme === 'basic') auth = this.basicAuth();
      if (!auth)
        throw new UpstreamError(
          this.name,
          UPSTREAM.DENIED,
          `${this.name}: ${url} requires authentication; set username and password for this upstream in oci.upstreams`,
          { status: 401 },
        );
      res = await once(auth);
      if (res.status === 401)
        throw await statusError(
          this.name,
          res,
          `${this.name}: ${url} refused the token it asked for (401); check the upstream's credentials`,
        );
    }
    return res;
  }

  private cachedAuth(scope: string): string | undefined {
    for (const [key, t] of this.tokens) if (key.endsWith(`|${scope}`) && t.expires > Date.now()) return `Bearer ${t.token}`;
    return undefined;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => ''); // the status is the error; the body only adds detail
    let detail = '';
    try {
      const errs = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors;
      if (errs?.length) detail = `: ${errs.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; ')}`;
    } catch {
      /* not an error body */
    }
    throw await statusError(this.name, res, `${this.name}: ${what} answered ${res.status}${detail}`);
  }

  /** Repository names from /v2/_catalog (following Link pagination), up to `max`. */
  async repositories(max = 10_000): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = `/v2/_catalog?n=${Math.min(max, 1000)}`;
    while (path && out.length < max) {
      const res = await this.request(path, '', { actions: 'catalog' });
      if (!res.ok) await this.fail(res, '_catalog');
      const body = await this.json<{ repositories?: string[] | null }>(res, '_catalog');
      out.push(...(body.repositories ?? []));
      const link = res.headers.get('link');
      const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      path = next ? (next.startsWith('/') ? next : new URL(next).pathname + new URL(next).search) : undefined;
    }
    return out.slice(0, max);
  }

  /** Every tag of a repository (following Link pagination); undefined when the repository does not exist. */
  index(repository: string): Promise<string[] | undefined> {
    return withRetries(this.opts, () => this.tags(repository));
  }

  private async tags(repository: string): Promise<string[] | undefined> {
    const out: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path && page < 10_000; page++) {
      const res = await this.request(path, repository);
      if (res.status === 404) {
        await drain(res);
        return page === 0 ? undefined : out;
      }
      if (!res.ok) await this.fail(res, `tags/list of ${repository}`);
      const body = await this.json<{ tags?: string[] | null }>(res, `tags/list of ${repository}`);
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
    const bytes = Buffer.from(
      await res.arrayBuffer().catch((err: unknown) => {
        throw unreachable(this.name, `${this.base}/v2/${repository}/manifests/${reference}`, err, this.timeoutMs);
      }),
    );
    const digest = `sha256:${sha256OfBuffer(bytes)}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new UpstreamError(
        this.name,
        UPSTREAM.INTEGRITY,
        `${this.name}: manifest ${repository}@${reference} has sha256 ${digest}; refusing it`,
      );
    }
    const announced = res.headers.get('docker-content-digest');
    if (announced && announced !== digest) {
      throw new UpstreamError(
        this.name,
        UPSTREAM.INTEGRITY,
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
      throw new UpstreamError(this.name, UPSTREAM.INVALID_REQUEST, `${this.name}: manifests are deleted by digest only, not ${digest}`);
    const res = await this.request(`/v2/${repository}/manifests/${digest}`, repository, { method: 'DELETE', actions: 'delete' });
    if (res.status === 404) {
      await drain(res);
      return 'absent';
    }
    if (!res.ok) await this.fail(res, `DELETE manifest ${repository}@${digest}`);
    await drain(res);
    return 'deleted';
  }

  /**
   * A blob's bytes as a stream, checked against its digest as they flow (bytes that hash to
   * anything else fail the stream with INTEGRITY). Large layers take as long as they take; a
   * download that stalls for the sync timeout is aborted.
   */
  async open(ref: OciBlobRef, opts: { signal?: AbortSignal | undefined } = {}): Promise<UpstreamBody> {
    const { repository, digest } = ref;
    const sha256 = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
    if (!sha256)
      throw new UpstreamError(this.name, UPSTREAM.INVALID_REQUEST, `${this.name}: blobs are read by sha256 digest, not ${digest}`);
    const stall = new StallTimer(this.timeoutMs, opts.signal);
    try {
      const res = await this.request(`/v2/${repository}/blobs/${digest}`, repository, { timeout: false, signal: stall.signal });
      if (!res.ok) await this.fail(res, `blob ${repository}@${digest}`);
      if (!res.body) throw new UpstreamError(this.name, UPSTREAM.BAD_RESPONSE, `${this.name}: blob ${repository}@${digest} has no body`);
      const body = guardBody(this.name, res, stall, {
        what: `blob ${repository}@${digest}`,
        url: `${this.base}/v2/${repository}/blobs/${digest}`,
        sha256,
      });
      return { body, size: Number(res.headers.get('content-length') ?? '') || undefined };
    } catch (err) {
      stall.clear();
      throw err;
    }
  }

  /** A blob's size (HEAD); undefined when the registry does not have it. */
  head(ref: OciBlobRef): Promise<{ size: number | undefined } | undefined> {
    return withRetries(this.opts, async () => {
      const res = await this.request(`/v2/${ref.repository}/blobs/${ref.digest}`, ref.repository, { method: 'HEAD' });
      if (res.status === 404) return void (await drain(res));
      if (!res.ok) await this.fail(res, `HEAD blob ${ref.repository}@${ref.digest}`);
      await drain(res);
      return { size: Number(res.headers.get('content-length') ?? '') || undefined };
    });
  }

  private async json<T>(res: Response, what: string): Promise<T> {
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw new UpstreamError(this.name, UPSTREAM.BAD_RESPONSE, `${this.name}: ${what} answered with a body that is not JSON`, {
        cause: err,
      });
    }
  }
}
