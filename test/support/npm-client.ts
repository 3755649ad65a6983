// Runs the machine's real npm CLI in isolation: no npm_config_* variables from the caller, its
// own empty --userconfig and --cache in a temp folder, and only the --registry given, so
// whatever it fetched came from that registry. Never reads or writes the user's ~/.npmrc.
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

/** An npm whose only registry is `registry` (with a token line for it when given). */
export async function isolatedNpm(registry: string, token?: string): Promise<NpmClient> {
  const home = await mkdtemp(join(tmpdir(), 'safelist-npm-'));
  const userconfig = join(home, 'npmrc');
  const host = registry.replace(/^https?:/, '');
  await writeFile(userconfig, `registry=${registry}\n${token ? `${host}:_authToken=${token}\n` : ''}`);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  Object.assign(env, { HOME: home, NO_UPDATE_NOTIFIER: '1' });
  const fixed = [
    '--userconfig',
    userconfig,
    '--cache',
    join(home, 'cache'),
    '--registry',
    registry,
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
