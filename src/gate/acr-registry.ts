// The gate's Azure Container Registry client (RegistryClient of kind acr), through the ACR
// data-plane SDK (@azure/container-registry) with an Entra identity. A file of its own so that
// the SDK is loaded (gateRegistries, registry.ts) only when an ACR registry is configured.
// Never turns an SDK failure into anything but an UpstreamError naming the registry; never
// deletes by tag.
import { PassThrough, type Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import {
  ContainerRegistryClient,
  ContainerRegistryContentClient,
  type ContainerRegistryClientOptions,
  type ContainerRegistryContentClientOptions,
} from '@azure/container-registry';
import type { GateRegistryConfig } from '../config/schema.js';
import type { FetchedManifest } from '../ecosystems/oci/upstream.js';
import { codeForStatus, UPSTREAM, UpstreamError, type UpstreamErrorCode } from '../upstream/types.js';
import type { AzureOptions, ListedImage, RegistryClient } from './registry.js';

/** The name of the error @azure/container-registry throws when bytes do not hash to their digest. */
const SDK_DIGEST_MISMATCH = 'DigestMismatchError';

export class AcrRegistry implements RegistryClient {
  readonly kind = 'acr';
  private readonly endpoint: string;
  private readonly options: ContainerRegistryClientOptions & ContainerRegistryContentClientOptions;
  private readonly registry: ContainerRegistryClient;
  private readonly content = new Map<string, ContainerRegistryContentClient>();

  constructor(
    private readonly cfg: GateRegistryConfig,
    private readonly credential: TokenCredential,
    clientOptions: AzureOptions['clientOptions'],
  ) {
    this.endpoint = cfg.url.replace(/\/+$/, '');
    // The audience of the Entra token exchanged for ACR tokens: ARM by default, since Defender
    // does not scan images pushed with ACR-audience tokens (and it is what ACR accepts unless
    // ARM-audience tokens are disabled on the registry).
    this.options = { audience: cfg.audience, ...clientOptions };
    this.registry = new ContainerRegistryClient(this.endpoint, credential, this.options);
  }

  private contentClient(repository: string): ContainerRegistryContentClient {
    let c = this.content.get(repository);
    if (!c) {
      c = new ContainerRegistryContentClient(this.endpoint, repository, this.credential, this.options);
      if (this.content.size > 1000) this.content.clear();
      this.content.set(repository, c);
    }
    return c;
  }

  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const m = await this.call(`manifest ${repository}:${reference}`, () => this.contentClient(repository).getManifest(reference));
    // The SDK has hashed the bytes and checked them against the digest asked for and against Docker-Content-Digest.
    return { bytes: m.content, mediaType: m.mediaType, digest: m.digest };
  }

  async blob(repository: string, digest: string): Promise<Readable> {
    const what = `blob ${repository}@${digest}`;
    const b = await this.call(what, () => this.contentClient(repository).downloadBlob(digest));
    // The SDK checks the digest as the bytes flow; its failures become UpstreamErrors too.
    const out = new PassThrough();
    const content = b.content as Readable;
    content.on('error', (err) => out.destroy(this.error(what, err)));
    out.on('close', () => content.destroy());
    return content.pipe(out);
  }

  async *list(maxRepositories: number, maxPerRepository: number): AsyncIterable<ListedImage | { error: string }> {
    const repositories: string[] = [];
    try {
      for await (const name of this.registry.listRepositoryNames()) {
        if (repositories.push(name) >= maxRepositories) break;
      }
    } catch (err) {
      throw this.error('list repositories', err);
    }
    for (const repository of repositories) {
      try {
        // ACR knows when each manifest was last updated: newest first.
        const recent = [];
        for await (const m of this.registry.getRepository(repository).listManifestProperties({ order: 'LastUpdatedOnDescending' })) {
          if (recent.push(m) >= maxPerRepository) break;
        }
        // The platform manifests of an image index are judged through their index.
        const children = new Set(recent.flatMap((m) => (m.relatedArtifacts ?? []).map((a) => a.digest)));
        for (const m of recent) {
          if (children.has(m.digest) && !m.tags.length) continue;
          yield { repository, digest: m.digest, ...(m.tags[0] ? { tag: m.tags[0] } : {}) };
        }
      } catch (err) {
        yield { error: `${repository}: ${this.error('list manifests', err).message}` };
      }
    }
  }

  async block(repository: string, digest: string): Promise<'blocked'> {
    await this.call(`block ${repository}@${digest}`, () =>
      this.registry.getArtifact(repository, digest).updateManifestProperties({ canRead: false }),
    );
    return 'blocked';
  }

  async deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'> {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new UpstreamError(
        this.cfg.name,
        UPSTREAM.INVALID_REQUEST,
        `${this.cfg.name}: manifests are deleted by digest only, not ${digest}`,
      );
    try {
      // The SDK takes ACR's 404 (already gone) as a success: the raw status tells the two apart.
      let status: number | undefined;
      await this.contentClient(repository).deleteManifest(digest, { onResponse: (raw) => void (status = raw.status) });
      return status === 404 ? 'absent' : 'deleted';
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return 'absent';
      throw this.error(`DELETE manifest ${repository}@${digest}`, err);
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(what, err);
    }
  }

  /** The SDK's RestError (statusCode, ACR error body) as an UpstreamError that names the registry. */
  private error(what: string, err: unknown): UpstreamError {
    const e = err as { name?: string; statusCode?: number; code?: string; message?: string; details?: unknown };
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    // ACR answers {"errors":[{"code","message"}]}; the SDK keeps it in details, or as the message.
    let body: { errors?: Array<{ code?: string; message?: string }> } | undefined = e.details as typeof body;
    if (!body?.errors) {
      try {
        body = JSON.parse(e.message ?? '') as typeof body;
      } catch {
        body = undefined;
      }
    }
    const first = body?.errors?.[0];
    const said = first
      ? `${first.code ?? 'UNKNOWN'}: ${first.message ?? ''}`
      : `${e.code && e.code !== 'REST_ERROR' ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
    const code: UpstreamErrorCode =
      status !== undefined ? codeForStatus(status) : e.name === SDK_DIGEST_MISMATCH ? UPSTREAM.INTEGRITY : UPSTREAM.UNAVAILABLE;
    return new UpstreamError(this.cfg.name, code, `${this.cfg.name}: ${what} ${status ? `answered ${status}` : 'failed'} ${said}`.trim(), {
      status,
      cause: err,
    });
  }
}
