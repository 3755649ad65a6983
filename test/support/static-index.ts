// A PEP 503 "static" index for tests whose upstream changes project by project: nginx
// (startNginx, test/support/nginx-upstream.ts) over a folder the test writes, as an organisation's
// plain file server would. HTML pages only, no sizes, no upload times: the least an upstream may
// say. Never touches the machine's nginx configuration; everything lives in its own temp folder.
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { startNginx } from './nginx-upstream.js';

export interface StaticIndex {
  /** The simple index URL (…/simple/). */
  url: string;
  /** Writes /simple/<project>/index.html linking the given files (copied under /files/). */
  publish(project: string, files: Array<{ path: string; sha256: string }>): Promise<void>;
  stop(): Promise<void>;
}

export async function startStaticIndex(): Promise<StaticIndex> {
  const root = await mkdtemp(join(tmpdir(), 'safelist-static-index-'));
  // nginx's worker drops privileges (to nobody when started as root): it must read the tree.
  await chmod(root, 0o755);
  await mkdir(join(root, 'simple'), { recursive: true });
  await mkdir(join(root, 'files'));
  const nginx = await startNginx({ root, types: { whl: 'application/octet-stream', gz: 'application/octet-stream' } });
  return {
    url: `${nginx.url}simple/`,
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
      await nginx.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
