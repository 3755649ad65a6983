// The order of a project's files in the PyPI catalog (what every page lists): PEP 440 order of
// the versions, then the file name; versions PEP 440 cannot read first, in plain string order.
// Plain releases ("1.10.2") are compared without the PEP 440 parser: this checks that they come
// out exactly as the parser orders them, among pre-, post-, dev-, local and epoch versions.
import { createHash } from 'node:crypto';
import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PypiCatalog, type PypiFile } from '../../../src/ecosystems/pypi/catalog.js';
import { openStateDb } from '../../../src/ecosystems/index.js';
import type { Db } from '../../../src/state/db.js';
import { seededPglite } from '../../support/databases.js';

/** The order as the catalog defined it before plain releases had a shortcut: the parser for every pair. */
function parserOrder(a: PypiFile, b: PypiFile): number {
  const va = validPep440(a.version) !== null;
  const vb = validPep440(b.version) !== null;
  const byVersion =
    va && vb ? comparePep440(a.version, b.version) : va !== vb ? (va ? 1 : -1) : a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
  return byVersion || (a.filename < b.filename ? -1 : 1);
}

const VERSIONS = [
  '1.10', '1.9', '1.9.0', '1.0', '1.0.0', '1', '01.2', '1.2', '1.2.0.0.1', '0', '0.0', '10', '2.0.1',
  '1.0rc1', '1.0a2', '1.0.post1', '1.0.dev0', '1.0+local.7', '1.10.0+abc', '2!0.1', 'v1.3', ' 1.4',
  '99999999999999999999999', '99999999999999999999999.1', '1.0-1', 'not-a-version', 'latest', '',
]; // prettier-ignore

function fileOf(version: string, i: number): PypiFile {
  // Names that do not follow the versions: equal versions (1, 1.0, 1.0.0) are ordered by them.
  const filename = `order_demo-${createHash('sha256').update(`${version}/${i}`).digest('hex').slice(0, 12)}-py3-none-any.whl`;
  return {
    sha256: createHash('sha256').update(filename).digest('hex'),
    project: 'order-demo',
    displayName: 'order-demo',
    version,
    filename,
    size: 1000 + i,
    requiresPython: null,
    uploadTime: null,
    yanked: null,
    metadataSha256: null,
    stored: true,
    metadataStored: false,
    source: 'pypi',
    sourceUrl: null,
  };
}

describe('pypi catalog file order', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openStateDb(seededPglite());
  });

  afterAll(async () => {
    await db?.close();
  });

  it('lists plain releases, pre-, post-, dev-, local, epoch and unreadable versions exactly in the PEP 440 parser order', async () => {
    // Two files per version, given in an order that is neither sorted nor reversed.
    const files = VERSIONS.flatMap((v, i) => [fileOf(v, 2 * i + 1), fileOf(v, 2 * i)]).sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
    const writer = new PypiCatalog(db);
    await writer.upsert(files);
    const fresh = new PypiCatalog(db);
    await fresh.reloadAll();
    const listed = fresh.project('order-demo')!.files.map((f) => f.filename);
    expect(listed).toEqual([...files].sort(parserOrder).map((f) => f.filename));
    // The shortcut's own cases, spelled out: 1 == 1.0 == 1.0.0 (six files by name); 1.9 < 1.10; 01.2 == 1.2.
    const at = (v: string) => listed.indexOf(fileOf(v, 2 * VERSIONS.indexOf(v)).filename);
    const ones = files.filter((f) => ['1', '1.0', '1.0.0'].includes(f.version)).map((f) => f.filename);
    const first = Math.min(...ones.map((n) => listed.indexOf(n)));
    expect(listed.slice(first, first + 6)).toEqual([...ones].sort());
    expect(new Set(listed.slice(first, first + 6).map((n) => files.find((f) => f.filename === n)!.version)).size).toBe(3);
    expect(at('1.9')).toBeLessThan(at('1.10'));
    expect(at('1.0rc1')).toBeLessThan(at('1.0'));
    expect(at('1.0')).toBeLessThan(at('1.0.post1'));
    expect(at('99999999999999999999999')).toBeLessThan(at('99999999999999999999999.1'));
    await fresh.close();
    await writer.close();
  });
});
