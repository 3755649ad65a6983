// The curated-contents provider reads layers in order with OCI whiteouts: a package a later
// layer deletes (`.wh.<name>`) or hides (`.wh..wh..opq`) is not reported; one added later is.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { describe, expect, it } from 'vitest';
import { applyLayers, readLayer } from '../../src/gate/providers/contents.js';

/** A gzip-compressed tar layer holding the given files (path → content). */
async function layer(files: Record<string, string>): Promise<Readable> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-layer-'));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return Readable.from(tar.create({ gzip: true, cwd: dir, portable: true }, Object.keys(files)) as unknown as AsyncIterable<Buffer>);
}

const metadata = (name: string, version: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\n`;
const SITE = 'usr/lib/python3/site-packages';

describe('curated contents across layers', () => {
  it('applies whiteouts and opaque directories in layer order', async () => {
    const base = await readLayer(
      await layer({
        [`${SITE}/requests-2.31.0.dist-info/METADATA`]: metadata('requests', '2.31.0'),
        [`${SITE}/evil-1.0.dist-info/METADATA`]: metadata('evil', '1.0'),
        'opt/conda/conda-meta/numpy-1.26.0-py311_0.json': JSON.stringify({ name: 'numpy', version: '1.26.0' }),
      }),
    );
    expect(base.packages.map((p) => p.name).sort()).toEqual(['evil', 'numpy', 'requests']);
    const cleanup = await readLayer(await layer({ [`${SITE}/.wh.evil-1.0.dist-info`]: '', 'opt/conda/conda-meta/.wh..wh..opq': '' }));
    expect(cleanup.removed).toEqual([`${SITE}/evil-1.0.dist-info`]);
    expect(cleanup.opaque).toEqual(['opt/conda/conda-meta']);
    const later = await readLayer(await layer({ [`${SITE}/late-0.1.dist-info/METADATA`]: metadata('late', '0.1') }));
    expect(
      applyLayers([base, cleanup, later])
        .map((p) => p.name)
        .sort(),
    ).toEqual(['late', 'requests']);
    // Order matters: a whiteout only hides what is below it.
    expect(
      applyLayers([cleanup, base])
        .map((p) => p.name)
        .sort(),
    ).toEqual(['evil', 'numpy', 'requests']);
  });
});
