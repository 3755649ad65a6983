// The compact forms a catalog holds digests, times and source URLs in give back exactly what
// they were made from, whatever was written (odd digests and URLs included), and a packed
// digest never equals another digest's packed form.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { interner } from '../../src/catalog/columns.js';
import { packDigest, packTime, packUrl, unpackDigest, unpackTime, unpackUrl } from '../../src/catalog/compact.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('compact catalog values', () => {
  it('packs a lowercase sha256 into 32 one-byte characters and back', () => {
    for (const hex of [sha('a'), '0'.repeat(64), 'f'.repeat(64), sha('wheel')]) {
      const packed = packDigest(hex);
      expect(packed).toHaveLength(32);
      expect(unpackDigest(packed)).toBe(hex);
    }
  });

  it('keeps any other digest text as written, never equal to a packed digest', () => {
    const odd = [
      sha('x').toUpperCase(),
      'abc',
      '',
      sha('y').slice(0, 63),
      `${sha('z')}0`,
      'g'.repeat(64),
      Buffer.alloc(32).toString('latin1'),
    ];
    for (const text of odd) expect(unpackDigest(packDigest(text))).toBe(text);
    // A look-up by the upper-case spelling of a digest does not find the digest (as with hex keys).
    expect(packDigest(sha('x').toUpperCase())).not.toBe(packDigest(sha('x')));
    // The 32-character text whose bytes a packed digest would have is still told apart.
    const packedLike = packDigest(sha('q'));
    expect(packDigest(packedLike)).not.toBe(packedLike);
    expect(unpackDigest(packDigest(packedLike))).toBe(packedLike);
  });

  it('gives times back as fresh Date objects with the same instant, and null as null', () => {
    const d = new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 123));
    const back = unpackTime(packTime(d));
    expect(back).not.toBe(d);
    expect(back!.toISOString()).toBe(d.toISOString());
    expect(unpackTime(packTime(null))).toBeNull();
    expect(unpackTime(packTime(undefined))).toBeNull();
    const first = unpackTime(packTime(d))!;
    first.setUTCFullYear(1999);
    expect(unpackTime(packTime(d))!.toISOString()).toBe(d.toISOString());
  });

  it('keeps a source URL without the file name it ends with, sharing the rest, and rebuilds it exactly', () => {
    const intern = interner();
    const name = 'demo-1.0-py3-none-any.whl';
    const a = packUrl(`https://files.example/packages/ab/${name}`, name, intern);
    const b = packUrl(`https://files.example/packages/ab/other-2.0.tar.gz`, 'other-2.0.tar.gz', intern);
    expect(a).toEqual({ kept: 'https://files.example/packages/ab/', endsWithName: true });
    expect(a.kept).toBe(b.kept);
    for (const [url, file] of [
      [`https://files.example/packages/ab/${name}`, name],
      [`https://files.example/x?file=${name}`, name],
      [`https://files.example/${name}#sha256=${sha('a')}`, name],
      [`https://files.example/not-${name}`, name],
      [name, name],
      [`/${name}`, name],
      ['https://files.example/', ''],
      [null, name],
    ] as Array<[string | null, string]>) {
      const p = packUrl(url, file, intern);
      expect(unpackUrl(p.kept, p.endsWithName, file)).toBe(url);
    }
  });
});
