// A real npm registry for tests: verdaccio from its npm package, as a child process on a free
// loopback port with its own config.yaml, htpasswd and storage in a temp folder, no uplinks (it
// never reaches out). The helper signs up one user through the registry's own adduser endpoint
// and publishes packages it builds (package.json + index.js) with the real `npm publish`.
// Never leaves the child running: stop() kills it, and so does the test process ending.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForHttp } from './ports.js';

const BIN = fileURLToPath(new URL('../../node_modules/verdaccio/bin/verdaccio', import.meta.url));
const USER = 'publisher';
const PASSWORD = 'publisher-password-0123';

export interface NpmPackageSpec {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

export interface Verdaccio {
  url: string;
  /** Publishes a package the helper builds (package.json + index.js) with the real npm CLI. */
  publish(spec: NpmPackageSpec): Promise<void>;
  stop(): Promise<void>;
}

/** The real npm CLI on PATH with its own userconfig and cache; resolves with its exit code and output. */
export function runNpm(
  args: string[],
  opts: { cwd: string; userconfig: string; cache: string },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'npm',
      [...args, '--userconfig', opts.userconfig, '--cache', opts.cache, '--no-audit', '--no-fund', '--no-update-notifier'],
      {
        cwd: opts.cwd,
        // npm reads npm_config_* from the environment: only ours count.
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

async function signUp(url: string): Promise<string> {
  const res = await fetch(`${url}/-/user/org.couchdb.user:${USER}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: USER, password: PASSWORD, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`verdaccio refused the test user: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * `seed`, when given, writes packages straight into verdaccio's storage folder (its own layout)
 * before it starts: faster than publishing many versions one by one (bench/npm-packument.ts).
 */
export async function startVerdaccio(opts: { seed?: (storage: string, url: string) => Promise<void> } = {}): Promise<Verdaccio> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-verdaccio-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(
    join(dir, 'config.yaml'),
    [
      `storage: ${join(dir, 'storage')}`,
      `auth: { htpasswd: { file: ${join(dir, 'htpasswd')}, max_users: 10 } }`,
      'uplinks: {}',
      "packages: { '@*/*': { access: $all, publish: $authenticated }, '**': { access: $all, publish: $authenticated } }",
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  if (opts.seed) await opts.seed(join(dir, 'storage'), url);
  const child: ChildProcess = spawn(process.execPath, [BIN, '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let alive = true;
  child.once('exit', () => (alive = false));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async () => {
    process.off('exit', kill);
    if (alive) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}/-/ping`, 60_000, () => alive);
  } catch (err) {
    await stop();
    throw err;
  }
  const token = await signUp(url);
  const userconfig = join(dir, 'npmrc');
  await writeFile(userconfig, `//127.0.0.1:${port}/:_authToken=${token}\n`);
  let n = 0;
  return {
    url,
    async publish(spec) {
      const pkgDir = join(dir, 'build', String(n++));
      await mkdir(pkgDir, { recursive: true });
      const manifest = { name: spec.name, version: spec.version, main: 'index.js', license: 'MIT', dependencies: spec.dependencies ?? {} };
      await writeFile(join(pkgDir, 'package.json'), JSON.stringify(manifest, null, 2));
      await writeFile(join(pkgDir, 'index.js'), `module.exports = ${JSON.stringify(`${spec.name}@${spec.version}`)};\n`);
      const tag = spec.version.includes('-') ? ['--tag', 'next'] : [];
      const r = await runNpm(['publish', '--registry', `${url}/`, ...tag], { cwd: pkgDir, userconfig, cache: join(dir, 'npm-cache') });
      if (r.code !== 0) throw new Error(`npm publish ${spec.name}@${spec.version} failed:\n${r.output}`);
    },
    stop,
  };
}
