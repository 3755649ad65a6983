// What a server loads that its configuration does not use: every module stays in the heap for the
// process's life (bench/README.md, issue 13), so a PyPI server on the embedded database without
// Entra ID, console OIDC or a fastify JSON schema must not load the PostgreSQL driver, jose,
// openid-client, ajv, nor Node's bundled undici (which an ES-module import of node:http pulls in).
// Checked in a child process that starts the server from source, answers a few requests and lists
// what was loaded; each of those still loads where it is used (their own tests cover that).
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/** The child: records every module URL, starts the server, asks for pages, prints what it loaded. */
const CHILD = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
const src = (p) => new URL(p, process.env.SRC_URL).href;
const { configSchema } = await import(src('ecosystems/index.ts'));
const { startServer } = await import(src('server.ts'));
const dir = process.env.WORK_DIR;
const template = process.env.TEST_PGLITE_TEMPLATE;
const config = configSchema.parse({
  server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
  storage: { kind: 'fs', path: dir + '/blobs' },
  database: { pglitePath: 'memory://', ...(template ? { pgliteTemplate: template } : {}) },
  policy: { allowlistDir: dir + '/allowlists', exceptionsDir: dir + '/exceptions' },
  auth: { tokens: [{ id: 'ci', token: 'a-static-token-of-enough-length', roles: ['admin'] }] },
  sync: { schedule: '' },
});
const server = await startServer(config);
// node:http as CommonJS, not fetch: fetch itself is undici.
const http = process.getBuiltinModule('node:http');
const get = (path) => new Promise((resolve, reject) => {
  http.get(server.url + path, { headers: { authorization: 'Bearer a-static-token-of-enough-length' } }, (res) => {
    res.resume();
    res.once('end', () => resolve(path + ' ' + res.statusCode));
  }).once('error', reject);
});
const statuses = [];
for (const path of ['/readyz', '/pypi/default/simple/', '/pypi/default/simple/demo/', '/ui/sign-in', '/api/v1/exceptions']) statuses.push(await get(path));
await server.close();
process.stdout.write(JSON.stringify({ loaded, builtins: process.moduleLoadList, statuses }));
`;

function runChild(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('a PyPI server on the embedded database', () => {
  let dir: string;
  let result: { loaded: string[]; builtins: string[]; statuses: string[] };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-serve-modules-'));
    await mkdir(join(dir, 'allowlists'));
    await mkdir(join(dir, 'exceptions'));
    await writeFile(join(dir, 'allowlists', 'pypi.yaml'), 'packages:\n  - demo\n');
    const run = await runChild({ WORK_DIR: dir, SRC_URL: pathToFileURL(join(ROOT, 'src') + '/').href });
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    result = JSON.parse(run.stdout) as typeof result;
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers its read path, console and API', () => {
    expect(result.statuses).toEqual([
      '/readyz 200',
      '/pypi/default/simple/ 200',
      '/pypi/default/simple/demo/ 404',
      '/ui/sign-in 200',
      '/api/v1/exceptions 200',
    ]);
  });

  it('loads PGlite and fastify, and none of the PostgreSQL driver, jose, openid-client, ajv, fast-json-stringify and undici (no proxy)', () => {
    const packages = new Set(result.loaded.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter(Boolean));
    expect(packages).toContain('@electric-sql/pglite');
    expect(packages).toContain('fastify');
    for (const unused of ['pg', 'pg-protocol', 'jose', 'openid-client', 'oauth4webapi', 'ajv', '@fastify/ajv-compiler', 'undici']) {
      expect(packages, unused).not.toContain(unused);
    }
    expect(result.loaded.filter((u) => u.includes('/node_modules/fast-json-stringify/') && !u.endsWith('/lib/serializer.js'))).toEqual([]);
  });

  it("does not load Node's bundled undici (the fetch behind an ES-module import of node:http)", () => {
    expect(result.builtins).not.toContain('NativeModule internal/deps/undici/undici');
  });
});
