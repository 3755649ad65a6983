// Builds the BlobStore the configuration asks for and proves it reachable and writable before
// anything relies on it. Never hands back a store whose check() failed; the error names the
// configuration key to fix.
import type { ProxyConfig } from '../config/proxy.js';
import { FsBlobStore } from './fs.js';
import type { BlobStore } from './types.js';

export interface StorageConfig {
  kind: 'fs' | 'azure';
  path: string;
  azure: { connectionString?: string; accountUrl?: string; container: string };
}

export class StorageUnavailable extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
}

/** `proxy`: network.proxy, which an Azure store's requests go through. */
export async function openBlobStore(cfg: StorageConfig, proxy?: ProxyConfig): Promise<BlobStore> {
  const source = describeSource(cfg);
  try {
    // Construction is inside: a malformed connection string throws here, not in check().
    // The Azure SDKs (several MiB of heap) are loaded only when the configuration uses Azure.
    const store =
      cfg.kind === 'fs'
        ? new FsBlobStore(cfg.path)
        : new (await import('./azure-blob.js')).AzureBlobStore({ ...cfg.azure, ...(proxy ? { proxy } : {}) });
    await store.check();
    return store;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new StorageUnavailable(`cannot use blob storage at ${source}: ${reason}`, { cause: err });
  }
}

function describeSource(cfg: StorageConfig): string {
  if (cfg.kind === 'fs') return `storage.path (${cfg.path})`;
  const { connectionString, accountUrl, container } = cfg.azure;
  // Never echo a connection string: it carries the account key.
  if (connectionString) return `storage.azure.connectionString, container storage.azure.container (${container})`;
  if (accountUrl) return `storage.azure.accountUrl (${accountUrl}), container storage.azure.container (${container})`;
  throw new StorageUnavailable('storage.kind is azure: set storage.azure.connectionString or storage.azure.accountUrl');
}
