// Writing and loading PyPI catalogs of an organisation's size: thousands of files are written in
// a few multi-row statements, exactly as given; every replica hears of every touched project;
// a catalog larger than one load chunk (hundreds of projects) is read back whole, and a full
// reload drops what left the database. Both modes.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PypiCatalog, plainPypiFile, type PypiFile } from '../../src/ecosystems/pypi/catalog.js';
import type { Db } from '../../src/state/db.js';
import { DB_MODES, databaseConfig } from '../support/databases.js';
import { until } from '../support/wait.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function file(i: number, over: Partial<PypiFile> = {}): PypiFile {
  const project = `proj-${String(i % 700).padStart(4, '0')}`;
  const version = `${Math.floor(i / 700)}.0`;
  const filename = `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  return {
    sha256: sha(filename),
    project,
    displayName: i % 2 ? project : project.toUpperCase(),
    version,
    filename,
    size: 3_000_000_000 + i,
    requiresPython: i % 3 ? '>=3.9' : null,
    uploadTime: i % 4 ? new Date(Date.UTC(2025, 0, 1) + i * 1000) : null,
    yanked: i % 5 ? null : i % 2 ? '' : 'broken "wheel"',
    metadataSha256: i % 6 ? sha(`${filename}.metadata`) : null,
    stored: i % 7 !== 0,
    metadataStored: i % 7 !== 0,
    source: 'pypi',
    sourceUrl: i % 8 ? `https://files.example/${filename}` : null,
    ...over,
  };
}

/** A catalog record's fields without what the database adds (firstSeen). */
function withoutFirstSeen(f: PypiFile): PypiFile {
  const { firstSeen: _f, ...rest } = plainPypiFile(f);
  return rest;
}

describe.each(DB_MODES)('pypi catalog bulk writes on %s', (mode) => {
  let db: Db;
  let writer: PypiCatalog;
  let replica: PypiCatalog;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const cfg = await databaseConfig(mode);
    cleanup = cfg.cleanup;
    db = await openStateDb(cfg.database);
    writer = new PypiCatalog(db);
    replica = new PypiCatalog(db);
    await writer.open();
    await replica.open();
  });

  afterAll(async () => {
    await replica?.close();
    await writer?.close();
    await db?.close();
    await cleanup?.();
  });

  it('writes thousands of files in a few statements, and a fresh load reads every project back exactly', async () => {
    const all = Array.from({ length: 3500 }, (_, i) => file(i));
    let statements = 0;
    await db.tx((q) =>
      writer.upsert(all, {
        query: (sql, params) => {
          statements++;
          return q.query(sql, params);
        },
        exec: (sql) => q.exec(sql),
      }),
    );
    expect(statements).toBeLessThanOrEqual(10);
    const fresh = new PypiCatalog(db);
    await fresh.reloadAll();
    expect(fresh.size).toBe(700);
    for (const f of [all[0]!, all[1]!, all[1_234]!, all[3_499]!]) expect(withoutFirstSeen(fresh.file(f.sha256)!)).toEqual(f);
    expect([...fresh.projectNames()].reduce((n, p) => n + fresh.project(p)!.files.length, 0)).toBe(3500);
  });

  it('gives back odd records exactly (URLs not ending with the file name, none) and finds files by lowercase sha256 only', async () => {
    const odd = [
      file(50_001, { sourceUrl: 'https://mirror.example/get?file=x.whl', metadataSha256: null }),
      file(50_002, { sourceUrl: 'proj_0002-71.0-py3-none-any.whl' }),
      file(50_003, { sourceUrl: null, uploadTime: new Date(Date.UTC(2020, 1, 29, 12, 0, 0, 7)) }),
    ];
    await writer.upsert(odd);
    const fresh = new PypiCatalog(db);
    await fresh.reloadAll();
    for (const f of odd) expect(withoutFirstSeen(fresh.file(f.sha256)!)).toEqual(f);
    expect(fresh.file(odd[0]!.sha256.toUpperCase())).toBeUndefined();
    expect(fresh.file(odd[0]!.sha256.slice(1))).toBeUndefined();
    expect(fresh.file(odd[1]!.sha256)!.firstSeen).toBeInstanceOf(Date);
  });

  it('tells every replica about every project a bulk write touched', async () => {
    const later = Array.from({ length: 700 }, (_, i) => file(10_000 * 700 + i));
    await writer.upsert(later);
    await until(() => later.every((f) => replica.file(f.sha256)) || undefined, 'the replica to reload every touched project');
    expect(replica.size).toBe(700);
  });

  it('applies a sha256 given twice in order and never downgrades a stored file', async () => {
    const f = file(99_999, { stored: true });
    await writer.upsert([f, { ...f, stored: false, yanked: 'second' }]);
    expect(writer.file(f.sha256)).toMatchObject({ stored: true, yanked: 'second' });
  });

  it('a full reload drops a project whose files went while its notification was missed, and keeps one with a status only', async () => {
    const gone = (name: string) =>
      file(0, { project: name, displayName: name, sha256: sha(name), filename: `${name}-1.0-py3-none-any.whl` });
    await writer.upsert([gone('gone-proj'), gone('archived-proj')]);
    await writer.setUpstreamStatus('archived-proj', { status: 'archived' }, 'pypi');
    await until(() => replica.project('archived-proj')?.upstreamStatus || undefined, 'the replica to hear of both');
    expect(replica.project('gone-proj')).toBeDefined();
    // Removed without telling anyone (as a notification lost with its connection).
    await db.query("DELETE FROM pypi_files WHERE project IN ('gone-proj', 'archived-proj')");
    await replica.reloadAll();
    expect(replica.project('gone-proj')).toBeUndefined();
    expect(replica.file(sha('gone-proj'))).toBeUndefined();
    expect(replica.project('archived-proj')).toMatchObject({ files: [], upstreamStatus: { status: 'archived' } });
    expect(replica.size).toBe(701);
  });
});
