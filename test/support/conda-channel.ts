// Real conda packages and channels for tests: packages are built with `cph` (Debian
// conda-package-handling) from a prefix holding info/index.json; a channel folder gets
// repodata.json per subdir written from what was built (not from Safelist's code); a tiny
// HTTP server serves that folder as an upstream channel.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CondaPackageSpec {
  name: string;
  version: string;
  build?: string;
  buildNumber?: number;
  depends?: string[];
  subdir?: string;
  format?: 'conda' | 'tar.bz2';
  /** Seconds since the epoch (conda-forge style timestamps are in ms). */
  timestamp?: number;
}

export interface BuiltCondaPackage {
  path: string;
  filename: string;
  subdir: string;
  record: Record<string, unknown> & { sha256: string; md5: string; size: number; name: string; version: string; build: string };
}

export async function buildCondaPackage(outDir: string, spec: CondaPackageSpec): Promise<BuiltCondaPackage> {
  const subdir = spec.subdir ?? 'linux-64';
  const build =
    spec.build ?? `h${createHash('md5').update(`${spec.name}${spec.version}`).digest('hex').slice(0, 7)}_${spec.buildNumber ?? 0}`;
  const index: Record<string, unknown> = {
    arch: subdir === 'noarch' ? null : 'x86_64',
    build,
    build_number: spec.buildNumber ?? 0,
    depends: spec.depends ?? [],
    license: 'MIT',
    name: spec.name,
    platform: subdir === 'noarch' ? null : 'linux',
    subdir,
    timestamp: spec.timestamp ?? 1_700_000_000_000,
    version: spec.version,
    ...(subdir === 'noarch' ? { noarch: 'generic' } : {}),
  };
  const prefix = await mkdtemp(join(tmpdir(), 'safelist-condapkg-'));
  try {
    await mkdir(join(prefix, 'info'), { recursive: true });
    await mkdir(join(prefix, 'share', spec.name), { recursive: true });
    const payload = `${spec.name} ${spec.version} ${build}\n`;
    await writeFile(join(prefix, 'share', spec.name, 'README'), payload);
    await writeFile(join(prefix, 'info', 'index.json'), JSON.stringify(index, null, 2));
    await writeFile(join(prefix, 'info', 'files'), `share/${spec.name}/README\n`);
    const sha = createHash('sha256').update(payload).digest('hex');
    await writeFile(
      join(prefix, 'info', 'paths.json'),
      JSON.stringify({
        paths: [{ _path: `share/${spec.name}/README`, path_type: 'hardlink', sha256: sha, size_in_bytes: payload.length }],
        paths_version: 1,
      }),
    );
    const filename = `${spec.name}-${spec.version}-${build}.${spec.format ?? 'conda'}`;
    await mkdir(outDir, { recursive: true });
    await run('cph', ['create', prefix, filename, '--out-folder', outDir]);
    const path = join(outDir, filename);
    const bytes = await readFile(path);
    return {
      path,
      filename,
      subdir,
      record: {
        ...index,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        md5: createHash('md5').update(bytes).digest('hex'),
        size: bytes.length,
      } as BuiltCondaPackage['record'],
    };
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
}

/** Writes {channelDir}/{subdir}/repodata.json for the packages (noarch always), placing the files beside it. */
export async function writeChannel(channelDir: string, packages: BuiltCondaPackage[], subdirs: string[] = ['linux-64']): Promise<void> {
  const all = new Set(['noarch', ...subdirs, ...packages.map((p) => p.subdir)]);
  for (const subdir of all) {
    await mkdir(join(channelDir, subdir), { recursive: true });
    const repodata = {
      info: { subdir },
      packages: {} as Record<string, unknown>,
      'packages.conda': {} as Record<string, unknown>,
      removed: [] as string[],
      repodata_version: 1,
    };
    for (const p of packages.filter((x) => x.subdir === subdir)) {
      (p.filename.endsWith('.conda') ? repodata['packages.conda'] : repodata.packages)[p.filename] = p.record;
      await writeFile(join(channelDir, subdir, p.filename), await readFile(p.path));
    }
    await writeFile(join(channelDir, subdir, 'repodata.json'), JSON.stringify(repodata, null, 1));
  }
}

export interface ChannelServer {
  url: string;
  requests: string[];
  stop(): Promise<void>;
}

/** Serves a folder over HTTP, as conda.anaconda.org serves a channel (404 for anything absent). */
export async function serveChannel(root: string): Promise<ChannelServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(`${req.method} ${path}`);
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(400).end();
      return;
    }
    stat(file).then(
      (s) => {
        if (!s.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
