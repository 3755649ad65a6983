// The curated-contents provider finds every installed form of a Python distribution, under any
// prefix: wheels' *.dist-info/METADATA, *.egg-info/PKG-INFO folders, bare *.egg-info files
// (distutils), unzipped eggs' EGG-INFO/PKG-INFO and zipped eggs; name and version from the
// Name:/Version: headers, the file name only where headers are missing. Whiteouts and
// file ↔ directory replacements in later layers remove what they replace; a long record
// (a huge description, a conda file list) is still read. npm packages are each package's own
// node_modules/<name>/package.json (scoped, nested, global), named by the file, not the folder.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { applyLayers, readLayer, type FoundPackage } from '../../src/gate/providers/contents.js';

const dirs: string[] = [];

/** A gzip-compressed tar layer: files (path → content), and entries listed as given (a folder brings its files). */
async function layer(files: Record<string, string | Buffer>, entries = Object.keys(files)): Promise<Readable> {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-layer-'));
  dirs.push(dir);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return Readable.from(tar.create({ gzip: true, cwd: dir, portable: true }, entries) as unknown as AsyncIterable<Buffer>);
}

const pkgInfo = (name: string, version: string, body = '') =>
  `Metadata-Version: 1.1\nName: ${name}\nVersion: ${version}\nSummary: test\n\n${body}`;
const found = (pkgs: FoundPackage[]) => pkgs.map((p) => `${p.name}==${p.version} ${p.path}`).sort();

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('Python distributions in every installed form', () => {
  it('finds dist-info, egg-info folders, bare egg-info files and eggs under any prefix, named by their headers', async () => {
    const l = await readLayer(
      await layer({
        'usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA': pkgInfo('requests', '2.31.0'),
        // A bare egg-info FILE (distutils): the headers name it, not the file name.
        'usr/lib/python3/dist-packages/Old_Pkg-1.0-py3.11.egg-info': pkgInfo('old-pkg', '1.0.post1'),
        'usr/local/lib/python3.11/dist-packages/pyyaml-6.0.egg-info/PKG-INFO': pkgInfo('PyYAML', '6.0'),
        // pip install -e / setup.py develop: a folder without a version in its name.
        'opt/venv/src/myproj/myproj.egg-info/PKG-INFO': pkgInfo('myproj', '0.3.0'),
        'opt/venv/lib/python3.12/site-packages/unzipped-3.0-py3.12.egg/EGG-INFO/PKG-INFO': pkgInfo('unzipped', '3.0'),
        'usr/lib/python2.7/site-packages/zipped_thing-0.5-py2.7.egg': 'PK\u0003\u0004 not opened',
        // No headers: the file name stands in.
        'usr/lib/python3/dist-packages/legacy-0.9-py3.11.egg-info': 'garbage without headers\n',
        // Not distributions: a README beside them, an .egg outside site-packages, a METADATA elsewhere.
        'usr/lib/python3/dist-packages/README.txt': 'Name: nope\nVersion: 1\n',
        'srv/data/model.egg': 'not python',
        'srv/METADATA': pkgInfo('nope', '1'),
      }),
    );
    expect(found(l.packages)).toEqual([
      'PyYAML==6.0 usr/local/lib/python3.11/dist-packages/pyyaml-6.0.egg-info/PKG-INFO',
      'legacy==0.9 usr/lib/python3/dist-packages/legacy-0.9-py3.11.egg-info',
      'myproj==0.3.0 opt/venv/src/myproj/myproj.egg-info/PKG-INFO',
      'old-pkg==1.0.post1 usr/lib/python3/dist-packages/Old_Pkg-1.0-py3.11.egg-info',
      'requests==2.31.0 usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA',
      'unzipped==3.0 opt/venv/lib/python3.12/site-packages/unzipped-3.0-py3.12.egg/EGG-INFO/PKG-INFO',
      'zipped_thing==0.5 usr/lib/python2.7/site-packages/zipped_thing-0.5-py2.7.egg',
    ]);
  });

  it('reads the headers of a record longer than the read limit, and a conda record by its file name', async () => {
    const long = 'x'.repeat(3 * 1024 * 1024);
    const l = await readLayer(
      await layer({
        'usr/lib/python3/dist-packages/big-1.0.dist-info/METADATA': pkgInfo('big', '1.0', long),
        'opt/conda/conda-meta/pytorch-2.5.1-py3.12_cuda12.4_0.json': JSON.stringify({ name: 'pytorch', version: '2.5.1', files: [long] }),
      }),
    );
    expect(found(l.packages)).toEqual([
      'big==1.0 usr/lib/python3/dist-packages/big-1.0.dist-info/METADATA',
      'pytorch==2.5.1 opt/conda/conda-meta/pytorch-2.5.1-py3.12_cuda12.4_0.json',
    ]);
  });

  it('removes a bare egg-info file by its whiteout, and honours file ↔ folder replacement across layers', async () => {
    const SITE = 'usr/lib/python3/dist-packages';
    const base = await readLayer(
      await layer({
        [`${SITE}/gone-1.0.egg-info`]: pkgInfo('gone', '1.0'),
        [`${SITE}/swap-1.0.egg-info`]: pkgInfo('swap', '1.0'),
        [`${SITE}/back-2.0.egg-info/PKG-INFO`]: pkgInfo('back', '2.0'),
        [`${SITE}/kept-1.0.dist-info/METADATA`]: pkgInfo('kept', '1.0'),
      }),
    );
    // The bare file is deleted; swap's file becomes a folder; back's folder becomes a bare file.
    const upper = await readLayer(
      await layer(
        {
          [`${SITE}/.wh.gone-1.0.egg-info`]: '',
          [`${SITE}/swap-1.0.egg-info/PKG-INFO`]: pkgInfo('swap', '1.1'),
          [`${SITE}/back-2.0.egg-info`]: pkgInfo('back', '2.1'),
        },
        [`${SITE}/.wh.gone-1.0.egg-info`, `${SITE}/swap-1.0.egg-info`, `${SITE}/back-2.0.egg-info`],
      ),
    );
    expect(upper.written).toEqual(
      expect.arrayContaining([
        { path: `${SITE}/swap-1.0.egg-info`, dir: true },
        { path: `${SITE}/back-2.0.egg-info`, dir: false },
      ]),
    );
    expect(
      applyLayers([base, upper])
        .map((p) => `${p.name}==${p.version}`)
        .sort(),
    ).toEqual(['back==2.1', 'kept==1.0', 'swap==1.1']);
    // A later layer that only touches a dist-info folder (new RECORD) keeps what is in it.
    const touch = await readLayer(await layer({ [`${SITE}/kept-1.0.dist-info/RECORD`]: '' }, [`${SITE}/kept-1.0.dist-info`]));
    expect(
      applyLayers([base, upper, touch])
        .map((p) => p.name)
        .sort(),
    ).toEqual(['back', 'kept', 'swap']);
  });
});

describe('npm packages in node_modules', () => {
  const pkgJson = (name: string, version: string) => JSON.stringify({ name, version, main: 'index.js' });

  it('finds each package.json of node_modules/<name> and node_modules/@scope/<name> at any depth, named by the file', async () => {
    const l = await readLayer(
      await layer({
        'app/node_modules/left-pad/package.json': pkgJson('left-pad', '1.3.0'),
        'app/node_modules/@azure/storage-blob/package.json': pkgJson('@azure/storage-blob', '12.17.0'),
        'app/node_modules/express/node_modules/debug/package.json': pkgJson('debug', '2.6.9'),
        'usr/local/lib/node_modules/npm/package.json': pkgJson('npm', '10.8.2'),
        // An alias install (npm install lodash@npm:evil-lodash): the folder lies, the file does not.
        'app/node_modules/lodash/package.json': pkgJson('evil-lodash', '4.17.21'),
        // Not JSON: the folder names it, with no version (which no range allows).
        'app/node_modules/broken/package.json': '{ not json',
        // Not installed packages: manifests deeper inside a package, the project's own, npm's lock copy.
        'app/node_modules/left-pad/lib/package.json': pkgJson('inner', '0.0.1'),
        'app/node_modules/@azure/package.json': pkgJson('scope-dir', '1.0.0'),
        'app/package.json': pkgJson('my-app', '1.0.0'),
        'app/node_modules/.package-lock.json': '{}',
      }),
    );
    expect(l.packages.every((p) => p.ecosystem === 'npm')).toBe(true);
    expect(found(l.packages)).toEqual([
      '@azure/storage-blob==12.17.0 app/node_modules/@azure/storage-blob/package.json',
      'broken== app/node_modules/broken/package.json',
      'debug==2.6.9 app/node_modules/express/node_modules/debug/package.json',
      'evil-lodash==4.17.21 app/node_modules/lodash/package.json',
      'left-pad==1.3.0 app/node_modules/left-pad/package.json',
      'npm==10.8.2 usr/local/lib/node_modules/npm/package.json',
    ]);
  });

  it('drops a package a later layer deletes (whiteout of its folder, or an opaque node_modules)', async () => {
    const base = await readLayer(
      await layer({
        'app/node_modules/kept/package.json': pkgJson('kept', '1.0.0'),
        'app/node_modules/gone/package.json': pkgJson('gone', '1.0.0'),
        'srv/node_modules/wiped/package.json': pkgJson('wiped', '1.0.0'),
      }),
    );
    const upper = await readLayer(
      await layer({
        'app/node_modules/.wh.gone': '',
        'srv/node_modules/.wh..wh..opq': '',
        'srv/node_modules/fresh/package.json': pkgJson('fresh', '2.0.0'),
      }),
    );
    expect(
      applyLayers([base, upper])
        .map((p) => `${p.name}==${p.version}`)
        .sort(),
    ).toEqual(['fresh==2.0.0', 'kept==1.0.0']);
  });
});
