// Builds OCI images with umoci (Debian) in an OCI layout and pushes them with skopeo, as the
// content of a test upstream registry; no Docker engine involved. Multi-platform images are
// made by writing an OCI image index over per-platform manifests of the same layout.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw Object.assign(new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`), {
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    });
  }
}

export interface Layout {
  dir: string;
  /** Adds an image tag whose files are written to a new layer (on top of `from`, if given). */
  image(tag: string, files: Record<string, string | Buffer>, opts?: { from?: string; os?: string; architecture?: string }): Promise<void>;
  /** Writes an OCI index named `tag` over existing tags, one per platform. */
  index(tag: string, platforms: Array<{ tag: string; os: string; architecture: string; variant?: string }>): Promise<string>;
  /** skopeo copy --all oci:<dir>:<tag> docker://<host>/<ref>; returns the pushed digest. */
  push(tag: string, host: string, ref: string, opts?: { format?: 'v2s2'; creds?: string }): Promise<string>;
  remove(): Promise<void>;
}

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Array<{
    mediaType: string;
    digest: string;
    size: number;
    platform?: Record<string, string>;
    annotations?: Record<string, string>;
  }>;
}

export async function createLayout(): Promise<Layout> {
  const root = await mkdtemp(join(tmpdir(), 'safelist-images-'));
  const dir = join(root, 'layout');
  await sh('umoci', ['init', '--layout', dir]);
  let n = 0;
  const readIndex = async () => JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as OciIndex;
  const layout: Layout = {
    dir,
    async image(tag, files, opts = {}) {
      if (opts.from) await sh('umoci', ['tag', '--image', `${dir}:${opts.from}`, tag]);
      else await sh('umoci', ['new', '--image', `${dir}:${tag}`]);
      const src = join(root, `files-${++n}`);
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(src, path)), { recursive: true });
        await writeFile(join(src, path), content);
      }
      await sh('umoci', ['insert', '--image', `${dir}:${tag}`, '--history.created', '2026-01-01T00:00:00Z', src, '/']);
      const config = ['config', '--image', `${dir}:${tag}`, '--created', '2026-01-01T00:00:00Z', '--config.cmd', '/bin/true'];
      if (opts.os) config.push('--os', opts.os);
      if (opts.architecture) config.push('--architecture', opts.architecture);
      await sh('umoci', config);
    },
    async index(tag, platforms) {
      const idx = await readIndex();
      const manifests = platforms.map((p) => {
        const d = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === p.tag);
        if (!d) throw new Error(`no tag ${p.tag} in the layout`);
        return {
          mediaType: d.mediaType,
          digest: d.digest,
          size: d.size,
          platform: { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) },
        };
      });
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
      const hex = createHash('sha256').update(body).digest('hex');
      await writeFile(join(dir, 'blobs', 'sha256', hex), body);
      idx.manifests = idx.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag);
      idx.manifests.push({
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: `sha256:${hex}`,
        size: body.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      });
      await writeFile(join(dir, 'index.json'), JSON.stringify(idx));
      return `sha256:${hex}`;
    },
    async push(tag, host, ref, opts = {}) {
      const digestFile = join(root, `digest-${++n}`);
      const args = ['copy', '--all', '--dest-tls-verify=false', '--digestfile', digestFile];
      if (opts.format) args.push('--format', opts.format);
      if (opts.creds) args.push('--dest-creds', opts.creds);
      await sh('skopeo', [...args, `oci:${dir}:${tag}`, `docker://${host}/${ref}`]);
      return (await readFile(digestFile, 'utf8')).trim();
    },
    async remove() {
      await rm(root, { recursive: true, force: true });
    },
  };
  return layout;
}
