// The registries the gate judges, behind one interface: re-read a manifest by digest, stream
// its layers, list what is there (reconcile), block pulls of a digest where the registry can,
// and purge it by digest. Two kinds:
// - distribution: any registry speaking the OCI distribution API (CNCF distribution, Harbor,
//   …) through our own client, with Basic or anonymous bearer auth. It cannot block, only delete.
// - acr: Azure Container Registry through its data-plane SDK (@azure/container-registry) with an
//   Entra identity (DefaultAzureCredential: managed or workload identity). Blocking sets the
//   manifest's readEnabled attribute to false (`az acr repository update --read-enabled false`),
//   which is reversible and works on locked images, before the irreversible delete.
// Every failure surfaces as the one UpstreamError (upstream/types.ts) with the registry's status
// and a code, so callers tell "the registry does not have it" (NOT_FOUND) from "the registry
// could not be asked" (UNAVAILABLE, TIMEOUT) or "it answered bytes that are not what was asked" (INTEGRITY).
import { PassThrough, type Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import {
  ContainerRegistryClient,
  ContainerRegistryContentClient,
  type ContainerRegistryClientOptions,
  type ContainerRegistryContentClientOptions,
} from '@azure/container-registry';
import { DefaultAzureCredential } from '@azure/identity';
import { gateRegistryKind, type GateConfig, type GateRegistryConfig } from '../config/schema.js';
import { OciUpstream, type FetchedManifest } from '../ecosystems/oci/upstream.js';
import { codeForStatus, UPSTREAM, UpstreamError, type UpstreamErrorCode } from '../upstream/types.js';

/** The name of the error @azure/container-registry throws when bytes do not hash to their digest. */
const SDK_DIGEST_MISMATCH = 'DigestMismatchError';

/** An image found by listing a registry: its digest and, if tagged, one tag. */
export interface ListedImage {
  repository: string;
  digest: string;
  tag?: string;
}

/**
 * A registry the gate judges. Every failure is an UpstreamError named after the registry:
 * NOT_FOUND (it does not have it), UNAVAILABLE/TIMEOUT (it could not be asked), INTEGRITY
 * (bytes that do not hash to their digest), INVALID_REQUEST (e.g. a delete by tag). The contract
 * every kind meets is test/gate/registry-client.test.ts; pushes are announced by the registry's
 * own notifications (gate/webhooks.ts parses them).
 */
export interface RegistryClient {
  readonly kind: 'distribution' | 'acr';
  /** A manifest by tag or digest; by digest the bytes must hash to it. */
  manifest(repository: string, reference: string): Promise<FetchedManifest>;
  /** A blob's bytes (the caller reads what it needs; the ACR client verifies the digest at the end). */
  blob(repository: string, digest: string): Promise<Readable>;
  /** Up to maxPerRepository recent images of each repository (up to maxRepositories), for reconcile. */
  list(maxRepositories: number, maxPerRepository: number): AsyncIterable<ListedImage | { error: string }>;
  /**
   * Stops pulls of the digest where the registry can: 'blocked', or 'unsupported' when the
   * registry has no such switch (the purge that follows is then the only enforcement).
   */
  block(repository: string, digest: string): Promise<'blocked' | 'unsupported'>;
  /** Deletes the manifest by digest: 'deleted', or 'absent' when it was already gone. */
  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'>;
}

export interface GateRegistry {
  name: string;
  /** The request.host its webhook events carry. */
  host: string;
  client: RegistryClient;
  /** Block a failing image before purging it (ACR with gate.registries[].block). */
  blocks: boolean;
}

export interface AzureOptions {
  credential?: TokenCredential;
  /** Extra SDK client options (e.g. tlsOptions with a private CA). */
  clientOptions?: { tlsOptions?: { ca?: string } };
}

export function gateRegistries(cfg: GateConfig, timeoutMs: number, azure: AzureOptions = {}): GateRegistry[] {
  let credential = azure.credential;
  return cfg.registries.map((r) => {
    const acr = gateRegistryKind(r) === 'acr';
    return {
      name: r.name,
      host: (r.host ?? new URL(r.url).host).toLowerCase(),
      client: acr
        ? new AcrRegistry(r, (credential ??= new DefaultAzureCredential()), azure.clientOptions ?? {})
        : new DistributionRegistry(r, timeoutMs),
      blocks: acr && r.block,
    };
  });
}

class DistributionRegistry implements RegistryClient {
  readonly kind = 'distribution';
  private readonly client: OciUpstream;

  constructor(r: GateRegistryConfig, timeoutMs: number) {
    this.client = new OciUpstream(
      {
        name: r.name,
        url: r.url,
        ...(r.username !== undefined ? { username: r.username } : {}),
        ...(r.password !== undefined ? { password: r.password } : {}),
      },
      { timeoutMs },
    );
  }

  manifest(repository: string, reference: string): Promise<FetchedManifest> {
    return this.client.manifest(repository, reference);
  }

  async blob(repository: string, digest: string): Promise<Readable> {
    return (await this.client.open({ repository, digest })).body;
  }

  async *list(maxRepositories: number, maxPerRepository: number): AsyncIterable<ListedImage | { error: string }> {
    for (const repository of await this.client.repositories(maxRepositories)) {
      try {
        // The distribution API has no push times: the last tags listed stand for the recent ones.
        const tags = ((await this.client.index(repository)) ?? []).slice(-maxPerRepository);
        for (const tag of tags) yield { repository, tag, digest: (await this.client.manifest(repository, tag)).digest };
      } catch (err) {
        yield { error: `${repository}: ${(err as Error).message}` };
      }
    }
  }

  async block(): Promise<'unsupported'> {
    return 'unsupported';
  }

  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'> {
    return this.client.deleteManifest(repository, digest);
  }
}

class AcrRegistry implements RegistryClient {
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
