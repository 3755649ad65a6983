// The registries the gate judges, behind one interface: re-read a manifest by digest, stream
// its layers, list what is there (reconcile), block pulls of a digest where the registry can,
// and purge it by digest. Two kinds:
// - distribution: any registry speaking the OCI distribution API (CNCF distribution, Harbor,
//   …) through our own client, with Basic or anonymous bearer auth. It cannot block, only delete.
// - acr (acr-registry.ts): Azure Container Registry through its data-plane SDK (@azure/container-registry) with an
//   Entra identity (DefaultAzureCredential: managed or workload identity). Blocking sets the
//   manifest's readEnabled attribute to false (`az acr repository update --read-enabled false`),
//   which is reversible and works on locked images, before the irreversible delete.
// Every failure surfaces as the one UpstreamError (upstream/types.ts) with the registry's status
// and a code, so callers tell "the registry does not have it" (NOT_FOUND) from "the registry
// could not be asked" (UNAVAILABLE, TIMEOUT) or "it answered bytes that are not what was asked" (INTEGRITY).
import { azureProxyOptions, type AzureProxySettings, type ProxyConfig } from '../config/proxy.js';
import type { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import { gateRegistryKind, type GateConfig, type GateRegistryConfig } from '../config/schema.js';
import { OciUpstream, type FetchedManifest } from '../ecosystems/oci/upstream.js';

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
  clientOptions?: { tlsOptions?: { ca?: string }; proxyOptions?: AzureProxySettings };
  /** network.proxy: ACR registries are reached through it unless on its no-proxy list. */
  proxy?: ProxyConfig;
}

/**
 * The configured registries' clients. The Azure SDKs (acr-registry.ts) are loaded here, at start,
 * only when an ACR registry is configured: a missing or broken SDK fails the start, not a push.
 */
export async function gateRegistries(cfg: GateConfig, timeoutMs: number, azure: AzureOptions = {}): Promise<GateRegistry[]> {
  const acrSdk = cfg.registries.some((r) => gateRegistryKind(r) === 'acr')
    ? await Promise.all([import('./acr-registry.js'), import('@azure/identity')])
    : undefined;
  let credential = azure.credential;
  return cfg.registries.map((r) => {
    const acr = gateRegistryKind(r) === 'acr';
    let client: RegistryClient;
    if (acr && acrSdk) {
      const [{ AcrRegistry }, { DefaultAzureCredential }] = acrSdk;
      const proxyOptions = azure.proxy ? azureProxyOptions(azure.proxy, r.url) : undefined;
      client = new AcrRegistry(r, (credential ??= new DefaultAzureCredential()), {
        ...(proxyOptions ? { proxyOptions } : {}),
        ...azure.clientOptions,
      });
    } else {
      client = new DistributionRegistry(r, timeoutMs);
    }
    return { name: r.name, host: (r.host ?? new URL(r.url).host).toLowerCase(), client, blocks: acr && r.block };
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
