// In Azure mode with storage.azure.redirectAbove, large image layers are answered with a
// redirect to a short-lived SAS URL of the blob: skopeo follows it to Azure Blob (Azurite)
// and the copied image keeps the upstream's digest.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { createLayout, sh, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

describe('skopeo through SAS redirects', () => {
  let registry: TestRegistry;
  let azurite: Azurite;
  let layout: Layout;
  let sl: TestSafelist;
  let tmp: string;
  let digest: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'safelist-oci-sas-'));
    registry = await startRegistry();
    azurite = await startAzurite();
    layout = await createLayout();
    // Incompressible content, so the layer stays far above the redirect threshold.
    await layout.image('1.0.0', { 'app/data.txt': `${randomBytes(200_000).toString('base64')}\n` });
    digest = await layout.push('1.0.0', registry.host, 'azureml/big:1.0.0');
    const storage = {
      kind: 'azure',
      azure: { connectionString: azurite.connectionString, container: 'oci-sas', redirectAbove: 1024, redirectTtl: '5m' },
    };
    sl = await startTestSafelist({
      azure: { connectionString: azurite.connectionString, container: 'oci-sas' },
      ociAllowlist: 'packages:\n  - mcr/azureml/big:^1.0.0\n',
      ociUpstreams: [{ name: 'mcr', url: registry.url }],
      extra: { storage },
    });
    expect((await sl.syncOciNow())?.failed).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
    await azurite?.stop();
    await registry?.stop();
    await layout?.remove();
    await rm(tmp, { recursive: true, force: true });
  });

  it('redirects layer downloads to Blob Storage and skopeo copies the image intact', async () => {
    const manifest = (await (
      await fetch(`${sl.url}/v2/mcr/azureml/big/manifests/1.0.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    ).json()) as { layers: Array<{ digest: string; size: number }> };
    const layer = manifest.layers.find((l) => l.size >= 1024)!;
    const res = await fetch(`${sl.url}/v2/mcr/azureml/big/blobs/${layer.digest}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).port).toBe(String(azurite.port));
    const out = join(tmp, 'out');
    await sh('skopeo', ['copy', '--src-tls-verify=false', `docker://${new URL(sl.url).host}/mcr/azureml/big:1.0.0`, `oci:${out}:x`]);
    const inspect = await sh('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${out}:x`]);
    expect(inspect.stdout.trim()).toBe(digest);
  });
});
