// The streaming repodata filter on real-shaped repodata (packages and packages.conda, removed,
// noarch records, strings holding brackets and quotes) fed in chunks of every size, and on
// malformed input: truncated JSON, wrong types, wrong subdir.
import { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filterRepodata, RepodataFilter, RepodataFormatError, type FilterOptions } from '../../src/ecosystems/conda/repodata-filter.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'conda');

function chunked(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

async function run(b: Buffer, opts: Partial<FilterOptions> & { names: string[] }, size = 65536) {
  const wanted = new Set(opts.names);
  return filterRepodata(Readable.from(chunked(b, size)), { wantName: (n) => wanted.has(n), ...opts });
}

describe('streaming repodata filter', () => {
  it('keeps only wanted records, in packages and packages.conda, whatever the chunk size', async () => {
    const b = await readFile(join(FIXTURES, 'repodata-linux-64.json'));
    const full = JSON.parse(b.toString()) as { packages: Record<string, unknown>; 'packages.conda': Record<string, unknown> };
    for (const size of [1, 2, 3, 7, 64, 1000, 1 << 20]) {
      const r = await run(b, { names: ['numpy', 'scipy'], subdir: 'linux-64' }, size);
      expect(r.records.map((x) => `${x.kind}/${x.filename}`).sort()).toEqual([
        'packages.conda/numpy-1.26.4-py311h64a7726_0.conda',
        'packages.conda/numpy-2.0.0-py311h1461c94_0.conda',
        'packages/numpy-1.26.4-py311h64a7726_0.tar.bz2',
        'packages/scipy-1.11.4-py311h64a7726_0.tar.bz2',
      ]);
      // Records are kept field for field, hashes untouched.
      const np = r.records.find((x) => x.filename === 'numpy-1.26.4-py311h64a7726_0.tar.bz2')!;
      expect(np.record).toEqual(full.packages['numpy-1.26.4-py311h64a7726_0.tar.bz2']);
      const sp = r.records.find((x) => x.filename.startsWith('scipy'))!;
      expect(sp.record.depends[1]).toBe('python >=3.11,<3.12.0a0 "quoted" }{ ][');
      expect(r.seen).toBe(Object.keys(full.packages).length + Object.keys(full['packages.conda']).length);
      expect(r.info).toEqual({ subdir: 'linux-64' });
      expect(r.removed).toEqual(['numpy-1.0-py27_0.tar.bz2', 'scipy-0.1-py27_0.tar.bz2']);
      expect(r.repodataVersion).toBe(1);
    }
  });

  it('hands each kept record to onRecord as it is checked, instead of collecting them', async () => {
    const b = await readFile(join(FIXTURES, 'repodata-linux-64.json'));
    const collected = await run(b, { names: ['numpy', 'scipy'], subdir: 'linux-64' }, 7);
    const handed: string[] = [];
    const r = await run(b, { names: ['numpy', 'scipy'], subdir: 'linux-64', onRecord: (k) => handed.push(JSON.stringify(k)) }, 7);
    expect(r.records).toEqual([]);
    expect(handed).toEqual(collected.records.map((k) => JSON.stringify(k)));
    expect(handed).toHaveLength(4);
    expect(r.removed).toEqual(collected.removed);
  });

  it('applies the full check to parsed records and drops records it cannot verify or whose name lies', async () => {
    const b = await readFile(join(FIXTURES, 'repodata-linux-64.json'));
    const r = await run(b, { names: ['numpy', 'numpy-legacy'], keep: (k) => k.record.version.startsWith('1.') });
    expect(r.records.map((x) => x.filename).sort()).toEqual(['numpy-1.26.4-py311h64a7726_0.conda', 'numpy-1.26.4-py311h64a7726_0.tar.bz2']);
    expect(r.dropped).toEqual([
      { filename: 'numpy-legacy-1.0-0.conda', reason: 'the record has no sha256, so its file cannot be verified' },
      { filename: 'numpy-9.9-evil_0.conda', reason: expect.stringContaining('does not match its record') },
    ]);
  });

  it('reads noarch repodata and skips unknown top-level values', async () => {
    const b = await readFile(join(FIXTURES, 'repodata-noarch.json'));
    for (const size of [1, 5, 4096]) {
      const r = await run(b, { names: ['tzdata', 'six'], subdir: 'noarch' }, size);
      expect(r.records.map((x) => [x.filename, x.record.noarch])).toEqual([
        ['tzdata-2024a-h0c530f3_0.conda', 'generic'],
        ['six-1.16.0-pyh6c4a22f_0.conda', 'python'],
      ]);
    }
  });

  it('fails with a located error on truncated input, at any cut', async () => {
    const b = await readFile(join(FIXTURES, 'repodata-linux-64.json'));
    const trimmed = b.toString().trimEnd();
    for (let cut = 0; cut < trimmed.length; cut += 97) {
      await expect(run(Buffer.from(trimmed.slice(0, cut)), { names: ['numpy'] }, 13)).rejects.toThrow(RepodataFormatError);
    }
    await expect(run(Buffer.from(trimmed.slice(0, trimmed.indexOf('"pandas'))), { names: ['numpy'] })).rejects.toThrow(
      /truncated: it ended inside "packages.conda"/,
    );
    await expect(run(Buffer.alloc(0), { names: ['numpy'] })).rejects.toThrow(/input is empty/);
  });

  it('refuses wrong types and wrong shapes with a message that names the field', async () => {
    const cases: Array<[string, RegExp]> = [
      ['[]', /must be a JSON object/],
      ['{"packages": []}', /"packages" must be an object/],
      ['{"packages": {"numpy-1-0.tar.bz2": 5}}', /record of "numpy-1-0.tar.bz2" in "packages" must be an object/],
      ['{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": 1, "build": "0"}}}', /"version" must be a non-empty string/],
      [
        '{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0", "depends": "python"}}}',
        /"depends" must be a list of strings/,
      ],
      ['{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0", "sha256": "XYZ"}}}', /"sha256" must be 64/],
      ['{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0", "size": -1}}}', /"size" must be/],
      ['{"info": {"subdir": "osx-64"}}', /repodata of subdir osx-64, expected linux-64/],
      ['{"info": 3}', /"info" must be an object/],
      ['{"repodata_version": "x"}', /"repodata_version" must be an integer/],
      ['{"removed": {"a": 1}}', /"removed" must be a list of file names/],
      ['{"removed": ["a-1-0.conda", 3]}', /"removed" must be a list of file names/],
      ['{"packages": {} "removed": []}', /expected "," or "}"/],
      ['{"packages": {}} trailing', /unexpected data after the end/],
      [
        '{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0", "sha256": "' +
          'a'.repeat(64) +
          '"}, "numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0"}}}',
        /appears twice/,
      ],
    ];
    for (const [text, re] of cases) {
      await expect(run(Buffer.from(text), { names: ['numpy'], subdir: 'linux-64' }), text).rejects.toThrow(re);
    }
  });

  it('holds at most about one record between chunks, however large the input', async () => {
    function* generate(records: number): Generator<Buffer> {
      yield Buffer.from('{"info": {"subdir": "linux-64"}, "packages.conda": {');
      for (let i = 0; i < records; i++) {
        const name = i % 1000 === 0 ? 'wanted' : `pkg${i}`;
        const rec = {
          build: 'h0_0',
          build_number: 0,
          depends: [`python >=3.${i % 13}`, 'libgcc-ng >=12'],
          md5: 'a'.repeat(32),
          name,
          sha256: 'b'.repeat(64),
          size: i,
          subdir: 'linux-64',
          version: `1.${i}`,
        };
        yield Buffer.from(`${i ? ',' : ''}\n "${name}-1.${i}-h0_0.conda": ${JSON.stringify(rec, null, 1)}`);
      }
      yield Buffer.from('}, "removed": [], "repodata_version": 1}');
    }
    // Re-chunk into odd sizes so records straddle chunk boundaries.
    async function* rechunk(src: Iterable<Buffer>, size: number): AsyncGenerator<Buffer> {
      let pending = Buffer.alloc(0);
      for (const b of src) {
        pending = Buffer.concat([pending, b]);
        while (pending.length >= size) {
          yield pending.subarray(0, size);
          pending = pending.subarray(size);
        }
      }
      if (pending.length) yield pending;
    }
    const small = await filterRepodata(rechunk(generate(2_000), 4093), { wantName: (n) => n === 'wanted' });
    const large = await filterRepodata(rechunk(generate(100_000), 4093), { wantName: (n) => n === 'wanted' });
    expect(small.records).toHaveLength(2);
    expect(large.records).toHaveLength(100);
    expect(large.bytes).toBeGreaterThan(20 * small.bytes);
    expect(large.maxCarry).toBeLessThan(1024);
    expect(small.maxCarry).toBeLessThan(1024);
  });

  it('locates errors by absolute byte offset whatever the chunking', async () => {
    const text = `{"packages": {"a-1-0.conda": {"name": "a", "version": "1", "build": "0", "depends": ["x"]}}, "info": ${'['.repeat(3)}`;
    const bad = Buffer.from(`{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "version": "1", "build": "0"}}, "removed": [] x`);
    for (const size of [1, 3, 7, 64, 100000]) {
      await expect(run(bad, { names: ['numpy'] }, size)).rejects.toThrow(`(at byte ${bad.indexOf(' x') + 1})`);
      await expect(run(Buffer.from(text), { names: ['a'] }, size)).rejects.toThrow(/truncated/);
    }
  });

  it('refuses a single value larger than the record limit instead of growing without bound', () => {
    const f = new RepodataFilter({ wantName: () => true, maxRecordBytes: 4096 });
    f.push(Buffer.from('{"packages": {"numpy-1-0.tar.bz2": {"name": "numpy", "depends": ["'));
    expect(() => f.push(Buffer.from('x'.repeat(10_000)))).toThrow(/larger than 4096 bytes/);
  });
});
