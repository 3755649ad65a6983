// The PEP 700 upload time of files put in by `safelist import pypi`: the file's modification
// time when it is plausible, else the import time; never later than the import (a future time
// would hold a file back for ever, an archive's epoch would skip every cool-down); a re-import
// keeps the first. Checked on the JSON page a client with a cool-down reads.
import { mkdtemp, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

describe('upload time of imported files', () => {
  let sl: TestSafelist;
  let dir: string;
  const w: Record<string, BuiltWheel> = {};
  let before: number;
  let after: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-import-time-'));
    w.old = await buildWheel(dir, { name: 'time-pkg', version: '1.0' });
    w.future = await buildWheel(dir, { name: 'time-pkg', version: '1.1' });
    w.epoch = await buildWheel(dir, { name: 'time-pkg', version: '1.2' });
    await utimes(w.old.path, new Date('2023-05-01T12:34:56Z'), new Date('2023-05-01T12:34:56Z'));
    await utimes(w.future.path, new Date('2099-01-01T00:00:00Z'), new Date('2099-01-01T00:00:00Z'));
    await utimes(w.epoch.path, new Date(0), new Date(0));
    sl = await startTestSafelist({ allowlist: 'packages:\n  - time-pkg\n' });
    // Whole seconds: file times and the database keep less than a millisecond apart.
    before = Math.floor(Date.now() / 1000) * 1000;
    const report = await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    after = Date.now();
    expect(report.skipped).toEqual([]);
  });
  afterAll(async () => {
    await sl?.stop();
  });

  const times = async () => {
    const page = (await (await fetch(`${sl.url}/pypi/default/simple/time-pkg/`, { headers: { accept: JSON_TYPE } })).json()) as {
      files: Array<{ filename: string; 'upload-time'?: string }>;
    };
    return Object.fromEntries(page.files.map((f) => [f.filename, f['upload-time']]));
  };

  it('gives every imported file an upload-time: a plausible mtime, else the import time', async () => {
    const t = await times();
    expect(Object.values(t).every((v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(v))).toBe(true);
    expect(t[w.old!.filename]).toBe('2023-05-01T12:34:56.000000Z');
    for (const f of [w.future!, w.epoch!]) {
      const at = Date.parse(t[f.filename]!);
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
    }
  });

  it('keeps the first time when the same file is imported again', async () => {
    const first = await times();
    await utimes(w.old!.path, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    expect(await times()).toEqual(first);
  });
});
