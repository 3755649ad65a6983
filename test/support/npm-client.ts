// Runs the machine's real npm CLI in isolation: no npm_config_* variables from the caller, its
// own --userconfig and --cache in a temp folder, and only the --registry given (or the project's
// own .npmrc), so whatever it fetched came from there. Never reads or writes the user's ~/.npmrc.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NpmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface NpmClient {
  /** The folder holding its userconfig and cache. */
  home: string;
  run(args: string[], cwd: string): Promise<NpmResult>;
}

export interface NpmOptions {
  /** The only registry (with a token line for it when `token` is given); without it, npm reads the project's own .npmrc. */
  registry?: string;
  token?: string;
  /** Variables added to npm's environment (e.g. a token an .npmrc names as ${VAR}). */
  env?: Record<string, string>;
}

/** An npm isolated from the machine's npm configuration. */
export async function isolatedNpm(opts: NpmOptions = {}): Promise<NpmClient> {
  const home = await mkdtemp(join(tmpdir(), 'safelist-npm-'));
  const userconfig = join(home, 'npmrc');
  const { registry, token } = opts;
  const tokenLine = registry && token ? `${registry.replace(/^https?:/, '')}:_authToken=${token}\n` : '';
  await writeFile(userconfig, registry ? `registry=${registry}\n${tokenLine}` : '');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  Object.assign(env, { HOME: home, NO_UPDATE_NOTIFIER: '1' }, opts.env);
  const fixed = [
    '--userconfig',
    userconfig,
    '--cache',
    join(home, 'cache'),
    ...(registry ? ['--registry', registry] : []),
    '--no-update-notifier',
    '--fund=false',
  ];
  return {
    home,
    run: (args, cwd) =>
      new Promise((resolve, reject) => {
        const child = spawn('npm', [...args, ...fixed], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      }),
  };
}

/**
 * A project folder with package.json and a package-lock.json (v3) that pins `deps` as resolved
 * from `registry`: what `npm audit` reads, without installing anything.
 */
export async function lockedProject(registry: string, deps: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-npm-ws-'));
  const ranges = Object.fromEntries(Object.keys(deps).map((n) => [n, `^${deps[n]}`]));
  const packages: Record<string, unknown> = { '': { name: 'ws', version: '1.0.0', dependencies: ranges } };
  for (const [name, version] of Object.entries(deps)) {
    const base = name.split('/').pop()!;
    packages[`node_modules/${name}`] = { version, resolved: `${registry}${name}/-/${base}-${version}.tgz` };
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'ws', version: '1.0.0', dependencies: ranges }));
  await writeFile(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'ws', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
  return dir;
}
