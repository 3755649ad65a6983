// Catalog entries made from repodata records: the record is kept as upstream wrote it
// (hashes, depends, everything a solver reads) except fields that would send a client to
// another server than Safelist; timestamps in seconds or milliseconds become upload times.
import { describe, expect, it } from 'vitest';
import { packageFromRecord } from '../../src/ecosystems/conda/catalog.js';
import type { CondaRecordFields } from '../../src/ecosystems/conda/repodata-filter.js';

const RECORD: CondaRecordFields = {
  build: 'py311h64a7726_0',
  build_number: 0,
  depends: ['python >=3.11,<3.12.0a0'],
  md5: 'a502d7aad449a1206efb366d6a12c52d',
  name: 'NumPy',
  sha256: '3f4365e11b28e244c95ba8579942b0802761ba7bb31c026f50d1a9ea9c728149',
  size: 8065890,
  subdir: 'linux-64',
  timestamp: 1707225380409,
  version: '1.26.4',
  url: 'https://elsewhere.example/numpy-1.26.4-py311h64a7726_0.conda',
  channel: 'https://elsewhere.example/conda-forge',
};

describe('conda catalog entries', () => {
  it('keep the record and its hashes, without fields that point elsewhere', () => {
    const p = packageFromRecord('conda-forge', 'linux-64', 'numpy-1.26.4-py311h64a7726_0.conda', RECORD, {
      stored: true,
      source: 'conda-forge',
      sourceUrl: null,
    });
    const rec = JSON.parse(p.record) as Record<string, unknown>;
    expect(rec.url).toBeUndefined();
    expect(rec.channel).toBeUndefined();
    const { url: _u, channel: _c, ...rest } = RECORD;
    expect(rec).toEqual(rest);
    expect(p).toMatchObject({
      name: 'numpy',
      version: '1.26.4',
      build: 'py311h64a7726_0',
      sha256: RECORD.sha256,
      md5: RECORD.md5,
      size: RECORD.size,
    });
    expect(p.uploadTime?.toISOString()).toBe('2024-02-06T13:16:20.409Z');
  });

  it('reads timestamps in seconds too', () => {
    const p = packageFromRecord(
      'c',
      'noarch',
      'x-1-0.conda',
      { ...RECORD, timestamp: 1707225380 },
      { stored: false, source: 'c', sourceUrl: null },
    );
    expect(p.uploadTime?.toISOString()).toBe('2024-02-06T13:16:20.000Z');
  });
});
