// `safelist sync` when upstreams cannot answer: every ecosystem says the upstream is
// unreachable or failing, with the cause an operator acts on (ECONNREFUSED host:port, a TLS
// error, a timeout, the HTTP status), never "not found on any upstream" or a bare
// "fetch failed". Real servers on 127.0.0.1: a closed port, a TLS server with a certificate
// nobody trusts, nginx answering 503, a TCP server that accepts and never answers. Robust on a
// loaded machine: the runs that expect an answer (refused, TLS, 503) allow a minute for it, far
// longer than any of them takes, and the run that expects a timeout (1 s) asks only the server
// that never answers.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { startNginx, type NginxServer as Nginx } from '../support/nginx-upstream.js';
import { freePort } from '../support/ports.js';
import { selfSignedCert } from '../support/tls.js';
import { seededPgliteYaml } from '../support/databases.js';

async function listen(server: Server | HttpsServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('safelist sync against upstreams that cannot answer', () => {
  let dir: string;
  let nginx: Nginx;
  let tls: HttpsServer;
  let silent: Server;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-upstream-failures-'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await mkdir(join(dir, 'www'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - demo-pkg\n');
    await writeFile(join(dir, 'allowlists', 'conda.yaml'), 'channels:\n  conda-forge:\n    - app\n');
    await writeFile(join(dir, 'allowlists', 'oci.yaml'), 'packages:\n  - mcr/azureml/cli:1.*\n');
    nginx = await startNginx({ root: join(dir, 'www'), serverExtra: 'return 503;' });
    const cert = await selfSignedCert(dir);
    tls = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end('never reached'));
    silent = createTcpServer((s) => sockets.push(s));
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    silent?.close();
    tls?.close();
    await nginx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function syncAll(name: string, urls: { pypi: string; conda: string; oci: string }, timeout = '60s') {
    const config = join(dir, `${name}.yaml`);
    await writeFile(
      config,
      [
        `storage: { kind: fs, path: ${join(dir, name, 'blobs')} }`,
        `database: ${seededPgliteYaml(join(dir, name, 'pglite'))}`,
        `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }`,
        `pypi: { upstreams: [ { name: local, url: "${urls.pypi}" } ] }`,
        `conda: { channels: [ { name: conda-forge, url: "${urls.conda}", subdirs: [noarch] } ] }`,
        `oci: { upstreams: [ { name: mcr, url: "${urls.oci}" } ] }`,
        `sync: { schedule: "", timeout: ${timeout} }`,
        '',
      ].join('\n'),
    );
    return cli(['--config', config, 'sync', '--ecosystem', 'all']);
  }

  it('names the refused address for PyPI, conda and OCI, and never calls the project missing', async () => {
    const port = await freePort(); // nothing listens there
    const base = `http://127.0.0.1:${port}`;
    const r = await syncAll('refused', { pypi: `${base}/simple/`, conda: `${base}/conda-forge`, oci: base });
    expect(r.code).toBe(1);
    const refused = `connection refused (ECONNREFUSED 127.0.0.1:${port})`;
    expect(r.stderr).toContain(`[1/1] demo-pkg: NOT SYNCED: local: upstream unreachable at ${base}/simple/demo-pkg/: ${refused}`);
    expect(r.stderr).toContain(`conda-forge: upstream unreachable at ${base}/conda-forge/noarch/repodata.json: ${refused}`);
    expect(r.stderr).toContain(`mcr: upstream unreachable at ${base}/v2/azureml/cli/tags/list`);
    expect(r.stderr).toContain(refused);
    expect(r.stderr).not.toContain('not found on any upstream');
    expect(r.stderr).not.toContain('fetch failed');
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toMatchObject({ downloaded: 0, failed: 1, missing: [] });
  });

  it('says TLS error and HTTP status with their details', async () => {
    const tlsPort = await listen(tls);
    const r = await syncAll('failing', {
      pypi: `https://127.0.0.1:${tlsPort}/simple/`,
      conda: `${nginx.url}conda-forge`,
      oci: `${nginx.url}oci`,
    });
    expect(r.code).toBe(1);
    // Node.js 24 appends a hint of its own to the reason; the code and the URL are what matter.
    expect(r.stderr).toContain(
      `demo-pkg: NOT SYNCED: local: upstream unreachable at https://127.0.0.1:${tlsPort}/simple/demo-pkg/: TLS error: self-signed certificate`,
    );
    expect(r.stderr).toContain('(DEPTH_ZERO_SELF_SIGNED_CERT)');
    expect(r.stderr).toContain(
      `conda-forge: upstream error: repodata of noarch answered HTTP 503 at ${nginx.url}conda-forge/noarch/repodata.json`,
    );
    expect(r.stderr).not.toContain('not found on any upstream');
    expect(r.stderr).not.toContain('fetch failed');
    expect(r.stderr).not.toContain('timed out');
  });

  it('says which upstream timed out, after how long, for an upstream that accepts and never answers', async () => {
    const silentPort = await listen(silent);
    const base = `http://127.0.0.1:${silentPort}`;
    const r = await syncAll('silent', { pypi: `${base}/simple/`, conda: `${base}/conda-forge`, oci: base }, '1s');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`local: upstream unreachable at ${base}/simple/demo-pkg/: timed out after 1000 ms`);
    expect(r.stderr).toContain(`conda-forge: upstream unreachable at ${base}/conda-forge/noarch/repodata.json: timed out after 1000 ms`);
    expect(r.stderr).toContain(`mcr: upstream unreachable at ${base}/v2/azureml/cli/tags/list?n=1000: timed out after 1000 ms`);
    expect(r.stderr).not.toContain('not found on any upstream');
    expect(r.stderr).not.toContain('fetch failed');
  });
});
