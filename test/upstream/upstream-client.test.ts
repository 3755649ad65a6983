// Runs the UpstreamClient contract (contract.ts) against the three clients, each over a real
// local upstream: PypiUpstream over nginx serving a PEP 503 tree of a built wheel, CondaUpstream
// over nginx serving a channel of a package built with cph, OciUpstream over docker-registry
// holding an image built with umoci and pushed with skopeo. Tampering changes the bytes in the
// server's own files, as a corrupted mirror would.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { condaChannelSchema } from '../../src/ecosystems/conda/config.js';
import { CondaUpstream, type CondaFileRef } from '../../src/ecosystems/conda/upstream.js';
import { OciUpstream, type OciBlobRef } from '../../src/ecosystems/oci/upstream.js';
import { PypiUpstream, type PypiFileRef, type UpstreamProject } from '../../src/ecosystems/pypi/upstream.js';
import type { UpstreamBody } from '../../src/upstream/types.js';
import { buildCondaPackage, writeChannel } from '../support/conda-channel.js';
import { createLayout } from '../support/images.js';
import { startNginx, startNginxUpstream } from '../support/nginx-upstream.js';
import { registryBlobPath, startRegistry } from '../support/registry.js';
import { buildWheel } from '../support/wheels.js';
import { upstreamClientContract, type UpstreamSubject } from './contract.js';

/** Bytes that do not compress, so every file is far larger than the truncation point. */
const filler = () => randomBytes(48 * 1024).toString('hex');

/** Flips one byte in the middle of a file, in place (same inode, same length). */
async function flipByte(path: string): Promise<void> {
  const bytes = await readFile(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
}

const pypi: UpstreamSubject<UpstreamProject, PypiFileRef> = {
  name: 'PypiUpstream (nginx, PEP 503)',
  async start() {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-upstream-contract-pypi-'));
    const wheel = await buildWheel(dir, { name: 'demo-pkg', version: '1.0', modules: { demo_pkg: `DATA = "${filler()}"\n` } });
    const nginx = await startNginxUpstream({ packagesDir: dir });
    const bytes = await readFile(wheel.path);
    const fileRef = (origin: string, filename: string, sha256?: string) => ({ url: `${origin}/packages/${filename}`, sha256 });
    return {
      origin: nginx.url.replace(/\/simple\/$/, ''),
      client: (origin, opts) => new PypiUpstream({ name: 'pypi-contract', url: `${origin}/simple/` }, opts),
      known: { name: 'demo-pkg', lists: wheel.filename },
      listed: async (project) => project.files.map((f) => f.filename),
      file: (origin) => ({ ref: fileRef(origin, wheel.filename, wheel.sha256), bytes }),
      missingFile: (origin) => fileRef(origin, 'demo_pkg-9.9-py3-none-any.whl'),
      paths: { index: /\/simple\/demo-pkg\//, file: /\/packages\/demo_pkg-1\.0-/ },
      tamper: () => flipByte(wheel.path), // served through a hard link: nginx serves the changed bytes
      async stop() {
        await nginx.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

const conda: UpstreamSubject<UpstreamBody, CondaFileRef> = {
  name: 'CondaUpstream (nginx, channel)',
  async start() {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-upstream-contract-conda-'));
    const built = join(dir, 'built');
    const www = join(dir, 'www');
    const pkg = await buildCondaPackage(built, { name: 'demo-tool', version: '1.0', subdir: 'noarch' });
    // cph compresses what it packs; pad the package file itself so it outgrows the truncation point.
    await writeFile(pkg.path, Buffer.concat([await readFile(pkg.path), Buffer.from(filler())]));
    const bytes = await readFile(pkg.path);
    pkg.record.sha256 = createHash('sha256').update(bytes).digest('hex');
    pkg.record.size = bytes.length;
    await writeChannel(join(www, 'forge'), [pkg], []);
    const nginx = await startNginx({ root: www, types: { json: 'application/json' } });
    const origin = nginx.url.replace(/\/$/, '');
    const fileRef = (at: string, filename: string, sha256?: string) => ({ url: `${at}/forge/noarch/${filename}`, filename, sha256 });
    return {
      origin,
      client: (at, opts) =>
        new CondaUpstream(condaChannelSchema.parse({ name: 'conda-contract', url: `${at}/forge`, subdirs: ['noarch'] }), opts),
      known: { name: 'noarch', lists: pkg.filename },
      async listed(index) {
        const chunks: Buffer[] = [];
        for await (const c of index.body) chunks.push(c as Buffer);
        const repodata = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, Record<string, unknown>>;
        return [...Object.keys(repodata.packages ?? {}), ...Object.keys(repodata['packages.conda'] ?? {})];
      },
      file: (at) => ({ ref: fileRef(at, pkg.filename, pkg.record.sha256), bytes }),
      missingFile: (at) => fileRef(at, 'demo-tool-9.9-h0_0.conda'),
      paths: { index: /\/forge\/noarch\/repodata\.json/, file: /\/forge\/noarch\/demo-tool-1\.0-/ },
      tamper: () => flipByte(join(www, 'forge', 'noarch', pkg.filename)),
      async stop() {
        await nginx.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

const oci: UpstreamSubject<string[], OciBlobRef> = {
  name: 'OciUpstream (docker-registry)',
  async start() {
    const registry = await startRegistry();
    const layout = await createLayout();
    await layout.image('app', { 'data/filler.txt': Buffer.from(filler(), 'hex') });
    await layout.push('app', registry.host, 'team/app:v1');
    const res = await fetch(`${registry.url}/v2/team/app/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const layer = ((await res.json()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    const bytes = await readFile(registryBlobPath(registry, layer));
    return {
      origin: registry.url,
      client: (origin, opts) => new OciUpstream({ name: 'oci-contract', url: origin }, opts),
      known: { name: 'team/app', lists: 'v1' },
      listed: async (tags) => tags,
      file: () => ({ ref: { repository: 'team/app', digest: layer }, bytes }),
      missingFile: () => ({ repository: 'team/app', digest: `sha256:${'0'.repeat(64)}` }),
      paths: { index: /\/v2\/team\/app\/tags\/list/, file: new RegExp(`/v2/team/app/blobs/${layer}`) },
      tamper: () => flipByte(registryBlobPath(registry, layer)),
      async stop() {
        await registry.stop();
        await layout.remove();
      },
    };
  },
};

upstreamClientContract(pypi);
upstreamClientContract(conda);
upstreamClientContract(oci);
