// The Azure Blob store through the egress proxy: the SDK client gets network.proxy as its
// proxyOptions (azureProxyOptions), so a configuration that names the proxy only in its file
// reaches the account through it. Azurite behind tinyproxy: tinyproxy's log proves the
// requests went through it, and a no-proxy entry sends them around it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azureProxyOptions } from '../../src/config/proxy.js';
import { AzureBlobStore } from '../../src/storage/azure-blob.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { startTinyproxy, type Tinyproxy } from '../support/tinyproxy.js';

describe('Azure SDK clients and network.proxy', () => {
  let azurite: Azurite;
  let proxy: Tinyproxy;

  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startTinyproxy({ user: 'blob', password: 'blob-pw' });
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  it('turns the proxy URL into proxyOptions, credentials decoded, and none for no-proxy endpoints', () => {
    const config = { url: 'http://bob:p%40ss@egress.example:3128', noProxy: ['.internal.example'] };
    expect(azureProxyOptions(config, 'https://acct.blob.core.windows.net')).toEqual({
      host: 'http://egress.example',
      port: 3128,
      username: 'bob',
      password: 'p@ss',
    });
    expect(azureProxyOptions(config, 'https://arm.internal.example')).toBeUndefined();
    expect(azureProxyOptions({ noProxy: [] }, 'https://management.azure.com')).toBeUndefined();
  });

  it('reaches the account through the proxy, and around it for a no-proxy host', async () => {
    const through = new AzureBlobStore({
      connectionString: azurite.connectionString,
      container: 'proxied',
      proxy: { url: proxy.url, noProxy: [] },
    });
    await through.check();
    await through.put('a/b.txt', Buffer.from('through the proxy'));
    const seen = await proxy.requests();
    expect(seen.some((r) => r.startsWith(`PUT http://127.0.0.1:${azurite.port}/devstoreaccount1/proxied/a/b.txt`))).toBe(true);

    const around = new AzureBlobStore({
      connectionString: azurite.connectionString,
      container: 'proxied',
      proxy: { url: proxy.url, noProxy: ['127.0.0.1'] },
    });
    await around.check();
    expect((await around.stat('a/b.txt'))?.size).toBe('through the proxy'.length);
    expect((await proxy.requests()).length).toBe(seen.length);
  });
});
