// Image read access by token (auth.packageRead = token): skopeo pulls from Safelist with the
// token as registry credentials (docker answers the same Basic challenge), and without them
// gets an OCI UNAUTHORIZED error. A token reads only the views it is granted: from another view
// skopeo is refused with the distribution spec's DENIED, naming the view; /v2/ (what a login
// checks) answers any valid token.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayout, sh, type Layout } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const TOKEN = 'image-read-token-0123456789';
/** The team-a workspace's token: reads team-a and nothing else. */
const TEAM_A = 'team-a-image-token-0123456789';

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
      views: { 'team-a': {} },
      ociAllowlist: 'packages:\n  - mcr/azureml/app:^1.0.0\n',
      ociUpstreams: [{ name: 'mcr', url: registry.url }],
      extra: {
        auth: {
          packageRead: 'token',
          tokens: [
            { id: 'ws-default', token: TOKEN, roles: ['pipeline'], read: ['default'] },
            { id: 'ws-team-a', token: TEAM_A, read: ['team-a'] },
          ],
        },
      },
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

  const copy = async (creds: string[], image = 'mcr/azureml/app:1.0.0') => {
    try {
      const r = await sh('skopeo', [
        'copy',
        '--src-tls-verify=false',
        ...creds,
        `docker://${new URL(sl.url).host}/${image}`,
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

  it("pulls a workspace's own view with its token and is DENIED the others, naming the view", async () => {
    const own = await copy(['--src-creds', `pull:${TEAM_A}`], 'views/team-a/mcr/azureml/app:1.0.0');
    expect(own.ok, own.out).toBe(true);
    const other = await copy(['--src-creds', `pull:${TEAM_A}`]);
    expect(other.ok).toBe(false);
    // skopeo logs the message with its quotes escaped.
    expect(other.out).toMatch(/denied: ws-team-a may not read the packages of view \\?"default\\?"/);
    const basic = (t: string) => ({ authorization: `Basic ${Buffer.from(`pull:${t}`).toString('base64')}` });
    // The version check answers any valid token (docker login), and still refuses an unknown one.
    expect((await fetch(`${sl.url}/v2/`, { headers: basic(TEAM_A) })).status).toBe(200);
    expect((await fetch(`${sl.url}/v2/`, { headers: basic('not-a-token-0123456789') })).status).toBe(401);
    for (const path of [
      '/v2/mcr/azureml/app/tags/list',
      '/v2/views/team-b/mcr/azureml/app/tags/list',
      '/v2/views/default/mcr/azureml/app/manifests/1.0.0',
    ]) {
      const res = await fetch(`${sl.url}${path}`, { headers: basic(TEAM_A) });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      const { errors } = (await res.json()) as { errors: Array<{ code: string; message: string }> };
      expect(errors[0]!.code).toBe('DENIED');
      expect(errors[0]!.message).toMatch(/add .* to read: of token ws-team-a/);
    }
    const mine = await fetch(`${sl.url}/v2/views/team-a/mcr/azureml/app/tags/list`, { headers: basic(TEAM_A) });
    expect(mine.status).toBe(200);
    expect(((await mine.json()) as { tags: string[] }).tags).toContain('1.0.0');
  });
});
