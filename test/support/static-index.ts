// A PEP 503 "static" index for tests: nginx (Debian `nginx`) serving a folder the test writes,
// as an organisation's plain file server would. HTML pages only, no sizes, no upload times:
// the least an upstream may say. Runs nginx in the foreground as the current user, with all its
// paths inside its own temp folder; never touches the machine's nginx configuration.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePort, waitForHttp } from './ports.js';

export interface StaticIndex {
  /** The simple index URL (…/simple/). */
  url: string;
  /** Writes /simple/<project>/index.html linking the given files (copied under /files/). */
  publish(project: string, files: Array<{ path: string; sha256: string }>): Promise<void>;
  stop(): Promise<void>;
}

export async function startStaticIndex(): Promise<StaticIndex> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-static-index-'));
  const root = join(dir, 'root');
  await mkdir(join(root, 'simple'), { recursive: true });
  await mkdir(join(root, 'files'));
  const port = await freePort();
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  await writeFile(join(dir, 'nginx.conf'), [
    'daemon off;',
    'master_process off;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')};`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join(' ')}`,
    '  types { text/html html; application/octet-stream whl gz; }',
    `  server { listen 127.0.0.1:${port}; root ${root}; index index.html; }`,
    '}',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  const url = `http://127.0.0.1:${port}/simple/`;
  await waitForHttp(url, 20_000, () => !exited);
  return {
    url,
    async publish(project, files) {
      await mkdir(join(root, 'simple', project), { recursive: true });
      const links = [];
      for (const f of files) {
        await copyFile(f.path, join(root, 'files', basename(f.path)));
        links.push(`<a href="../../files/${basename(f.path)}#sha256=${f.sha256}">${basename(f.path)}</a><br/>`);
      }
      await writeFile(join(root, 'simple', project, 'index.html'), `<!DOCTYPE html>\n<html><body>\n${links.join('\n')}\n</body></html>\n`);
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
