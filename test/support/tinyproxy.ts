// Debian's tinyproxy (scripts/test-deps) as the egress proxy in tests: started on a free
// 127.0.0.1 port with a generated config in a temp folder it removes on stop(), optionally asking
// for Basic credentials. Its log says what went through it (one "Request" line per request or
// CONNECT), which is how tests prove bytes took the proxy, or bypassed it. Must never listen
// anywhere but 127.0.0.1 nor write outside its temp folder.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { until } from './wait.js';

export interface Tinyproxy {
  /** http://[user:password@]127.0.0.1:<port> */
  url: string;
  port: number;
  /** The request lines it received so far: "GET http://…/x HTTP/1.1", "CONNECT localhost:443 HTTP/1.1". */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
}

/** `extra`: more configuration lines (e.g. `ConnectPort 443`, which makes it refuse CONNECT to other ports). */
export async function startTinyproxy(opts: { user?: string; password?: string; extra?: string[] } = {}): Promise<Tinyproxy> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-tinyproxy-'));
  const port = await freePort();
  const log = join(work, 'tinyproxy.log');
  const auth = opts.user ? `BasicAuth ${opts.user} ${opts.password ?? ''}\n` : '';
  // No Allow lines and no ConnectPort lines (unless extra has some): every client on 127.0.0.1 may CONNECT to any port.
  await writeFile(
    join(work, 'tinyproxy.conf'),
    `Port ${port}\nListen 127.0.0.1\nTimeout 60\nLogFile "${log}"\nLogLevel Info\nMaxClients 64\nDisableViaHeader Yes\n${auth}${(opts.extra ?? []).map((l) => `${l}\n`).join('')}`,
  );
  const child = spawn('tinyproxy', ['-d', '-c', join(work, 'tinyproxy.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined); // reported below as "did not start"
  const readLog = () => readFile(log, 'utf8').catch(() => '');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(work, { recursive: true, force: true });
  };
  try {
    await until(
      async () => (child.exitCode === null ? (await readLog()).includes('Accepting connections') || undefined : true),
      'tinyproxy listening',
      20_000,
    );
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
  } catch (err) {
    const text = await readLog();
    await stop();
    throw new Error(`tinyproxy did not start (is it installed? scripts/test-deps): ${(err as Error).message}\n${stderr}${text}`);
  }
  const credentials = opts.user ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password ?? '')}@` : '';
  return {
    url: `http://${credentials}127.0.0.1:${port}`,
    port,
    requests: async () => [...(await readLog()).matchAll(/Request \(file descriptor \d+\): (.*)$/gm)].map((m) => m[1]!.trim()),
    stop,
  };
}
