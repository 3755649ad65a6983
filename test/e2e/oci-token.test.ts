// Image read access by token (auth.packageRead = token): skopeo pulls from Safelist with the
// token as registry credentials (docker answers the same Basic challenge), and without them
// gets an OCI UNAUTHORIZED error.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKEN = 'image-read-token-0123456789';

describe('skopeo with image read tokens', () => {
  let registry: TestRegistry;
  let layout: Layout;
  let sl: TestSafelist;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'safelist-oci-token-'));
    registry = await startRegistry();
    layout = await createLayout();
    await layout.image('1.0.0', { 'app/version.txt': '1.0.0\n' });
    await layout.push('1.0.0', registry.host, 'azureml/app:1.0.0');
    sl = await startTestSafelist({
      ociAllowlist: 'packages:\n  - mcr/azureml/app:^1.0.0\n',
      ociUpstreams: [{ name: 'mcr', url: registry.url }],
      extra: { auth: { packageRead: 'token', tokens: [{ id: 'ws-team-a', token: TOKEN, roles: ['pipeline'] }] } },
    });
    const report = await sl.syncOciNow();
    expect(report?.failed).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
    await registry?.stop();
    await layout?.remove();
    await rm(tmp, { recursive: true, force: true });
  });

  const copy = async (creds: string[]) => {
    try {
      const r = await sh('skopeo', [
        'copy',
        '--src-tls-verify=false',
        ...creds,
        `docker://${new URL(sl.url).host}/mcr/azureml/app:1.0.0`,
        `oci:${join(tmp, `out-${Date.now()}`)}:x`,
      ]);
      return { ok: true, out: r.stdout + r.stderr };
    } catch (err) {
      return { ok: false, out: (err as { stderr?: string }).stderr ?? (err as Error).message };
    }
  };

  it('pulls with the token as credentials and is refused without it', async () => {
    const ok = await copy(['--src-creds', `pull:${TOKEN}`]);
    expect(ok.ok, ok.out).toBe(true);
    const anon = await copy(['--src-no-creds']);
    expect(anon.ok).toBe(false);
    expect(anon.out).toMatch(/unauthorized/i);
    const res = await fetch(`${sl.url}/v2/mcr/azureml/app/tags/list`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNAUTHORIZED');
  });
});
