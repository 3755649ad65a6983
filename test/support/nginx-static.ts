// Starts Debian's nginx (nginx-light) as a static file server over a folder: the physical
// limit of serving bytes over HTTP in benchmarks, and a real PEP 503 upstream in tests (a
// folder of index.html pages and files). One worker, no access log, everything it writes
// (pid, error log, temp paths) under the caller's work folder; never binds beyond 127.0.0.1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForHttp } from './ports.js';

export interface NginxOptions {
  /** Folder for nginx.conf, pid, error log and temp paths; made world-readable for the worker. */
  work: string;
  /** Folder served at /. */
  root: string;
  /** Extension → Content-Type, e.g. { html: 'text/html' }; others are application/octet-stream. */
  types?: Record<string, string>;
  /** Extra directives inside the server block (e.g. `limit_rate 64k;`). */
  serverExtra?: string;
}

export interface Nginx {
  url: string;
  port: number;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function nginxAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v nginx']).status === 0;
}

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  if (!nginxAvailable()) throw new Error('nginx not found: run scripts/test-deps (Debian package nginx-light)');
  const { work, root } = opts;
  const port = await freePort();
  const types = Object.entries(opts.types ?? {}).map(([ext, type]) => `${type} ${ext};`).join(' ');
  const conf = join(work, 'nginx.conf');
  await writeFile(conf, `worker_processes 1;
daemon off;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'nginx-error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  types { ${types} }
  default_type application/octet-stream;
  client_body_temp_path ${work}/nginx-body; proxy_temp_path ${work}/nginx-proxy;
  fastcgi_temp_path ${work}/nginx-fcgi; uwsgi_temp_path ${work}/nginx-uwsgi; scgi_temp_path ${work}/nginx-scgi;
  sendfile on; tcp_nopush on; keepalive_requests 100000; etag on;
  server { listen 127.0.0.1:${port}; root ${root}; ${opts.serverExtra ?? ''} }
}
`);
  await chmod(work, 0o755); // nginx's worker runs as an unprivileged user when started as root
  const proc = spawn('nginx', ['-c', conf, '-e', join(work, 'nginx-error.log')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForHttp(`${url}/`, 10_000, () => proc.exitCode === null);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, pid: proc.pid!, process: proc, stop };
}
