// nginx (Debian nginx-light, from scripts/test-deps) as a static file server for tests and
// benchmarks, and on it a PEP 503 "simple" HTML upstream over a folder of distributions the test
// writes: the sync tests' third-party upstream. Everything lives in temp folders it creates and
// removes on stop(); it must never read or serve anything outside them and the given folder.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from './ports.js';

export interface NginxServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Serves `root` read-only with one worker. `types` maps extensions to content types
 * (html is text/html; anything else is application/octet-stream unless named).
 */
export async function startNginx(opts: {
  root: string;
  types?: Record<string, string>;
  port?: number;
  /** Extra directives in the server block (e.g. `limit_rate 64k;`). */ serverExtra?: string;
}): Promise<NginxServer> {
  const work = await mkdtemp(join(tmpdir(), 'safelist-nginx-'));
  const port = opts.port ?? (await freePort());
  const types = { html: 'text/html', ...opts.types };
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(work, t)};`).join(' ');
  // As root, nginx's worker would drop to nobody and could not read a caller's private temp
  // folders: keep it as the user that runs the tests.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  await writeFile(
    join(work, 'nginx.conf'),
    `${user}worker_processes 1;
daemon off;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  types { ${Object.entries(types)
    .map(([ext, type]) => `${type} ${ext};`)
    .join(' ')} }
  default_type application/octet-stream;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  ${temp}
  server { listen 127.0.0.1:${port}; root ${opts.root}; ${opts.serverExtra ?? ''} }
}
`,
  );
  // -e: nginx opens its error log before reading the config; keep even that inside `work`.
  const child = spawn('nginx', ['-c', join(work, 'nginx.conf'), '-e', join(work, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(work, { recursive: true, force: true });
  };
  try {
    await waitForHttp(url, 20_000, () => child.exitCode === null);
  } catch (err) {
    const log = await readFile(join(work, 'error.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`nginx did not start (is nginx-light installed? scripts/test-deps): ${(err as Error).message}\n${stderr}${log}`);
  }
  return { url, port, pid: child.pid!, stop };
}

/** What a project page says about one file, beyond its link. */
export interface LinkOptions {
  /** Put the `#sha256=` fragment on the link (default true). */
  sha256?: boolean;
  /** data-requires-python */
  requiresPython?: string;
  /** data-yanked (the reason) */
  yanked?: string;
}

export interface NginxUpstream extends NginxServer {
  /** The simple index, ending in /simple/. */
  url: string;
  /** Rewrites the pages from the folder's current files (after a test adds or changes one). */
  refresh(): Promise<void>;
}

/** PEP 503 normalised project name of a wheel or sdist file name, or undefined for other files. */
export function distProject(filename: string): string | undefined {
  const m = /^([^-]+)-.+\.whl$/.exec(filename) ?? /^(.+)-[^-]+\.(?:tar\.gz|tar\.bz2|zip)$/.exec(filename);
  return m ? m[1]!.toLowerCase().replace(/[-_.]+/g, '-') : undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

async function writeAtomic(path: string, body: string): Promise<void> {
  await writeFile(`${path}.tmp`, body);
  await rename(`${path}.tmp`, path);
}

/**
 * Writes <www>/simple/ (the root page and one page per project) and <www>/packages/ (the files,
 * hard-linked so a test that rewrites a file in place changes what is served) from the
 * distributions at the top of `packagesDir`. Hashes are those of the bytes at writing time.
 */
export async function writeSimpleTree(
  www: string,
  packagesDir: string,
  linkOptions: (filename: string) => LinkOptions = () => ({}),
): Promise<void> {
  await mkdir(join(www, 'packages'), { recursive: true });
  await mkdir(join(www, 'simple'), { recursive: true });
  const projects = new Map<string, string[]>();
  for (const entry of await readdir(packagesDir, { withFileTypes: true })) {
    const project = entry.isFile() ? distProject(entry.name) : undefined;
    if (!project) continue;
    projects.set(project, [...(projects.get(project) ?? []), entry.name]);
    const served = join(www, 'packages', entry.name);
    await rm(served, { force: true }); // a refresh links the file the test may have replaced
    await link(join(packagesDir, entry.name), served).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV') throw err;
      return copyFile(join(packagesDir, entry.name), served); // another file system: a copy
    });
  }
  const page = (title: string, body: string) =>
    `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>${title}</title></head>\n<body><h1>${title}</h1>\n${body}</body></html>\n`;
  for (const [project, files] of projects) {
    await mkdir(join(www, 'simple', project), { recursive: true });
    const links: string[] = [];
    for (const filename of files.sort()) {
      const o = linkOptions(filename);
      let href = `../../packages/${encodeURIComponent(filename)}`;
      if (o.sha256 !== false)
        href += `#sha256=${createHash('sha256')
          .update(await readFile(join(packagesDir, filename)))
          .digest('hex')}`;
      let attrs = `href="${escapeHtml(href)}"`;
      if (o.requiresPython !== undefined) attrs += ` data-requires-python="${escapeHtml(o.requiresPython)}"`;
      if (o.yanked !== undefined) attrs += ` data-yanked="${escapeHtml(o.yanked)}"`;
      links.push(`<a ${attrs}>${escapeHtml(filename)}</a><br>\n`);
    }
    await writeAtomic(join(www, 'simple', project, 'index.html'), page(`Links for ${project}`, links.join('')));
  }
  const index = [...projects.keys()]
    .sort()
    .map((p) => `<a href="${p}/">${p}</a><br>\n`)
    .join('');
  await writeAtomic(join(www, 'simple', 'index.html'), page('Simple index', index));
}

/**
 * A PEP 503 HTML upstream over `packagesDir` (wheels and sdists at its top level), like a
 * plain static mirror: pages are written once at start and on refresh(), never on request.
 */
export async function startNginxUpstream(opts: { packagesDir: string; links?: (filename: string) => LinkOptions }): Promise<NginxUpstream> {
  const www = await mkdtemp(join(tmpdir(), 'safelist-upstream-www-'));
  // nginx's worker drops privileges (to nobody when started as root): it must read the tree.
  await chmod(www, 0o755);
  const refresh = () => writeSimpleTree(www, opts.packagesDir, opts.links);
  try {
    await refresh();
    const server = await startNginx({ root: www });
    return {
      ...server,
      url: `${server.url}simple/`,
      refresh,
      stop: async () => {
        await server.stop();
        await rm(www, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(www, { recursive: true, force: true });
    throw err;
  }
}
