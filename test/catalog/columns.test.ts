// Columns declared once: the SELECT and INSERT lists, the json_to_recordset types and both
// mappings come from the one map, a read-only column is read but never written, nulls stay
// null, and bigint and timestamptz values are converted both ways. (The PyPI and conda bulk
// upsert tests prove the round trip through a real database.)
import { describe, expect, it } from 'vitest';
import { RecordColumns } from '../../src/catalog/columns.js';

interface Note {
  title: string;
  pages: number;
  published: Date | null;
  draft: boolean;
  createdAt?: Date;
}

const COLUMNS = new RecordColumns<Note>({
  title: { column: 'title', type: 'text', intern: true, read: (s) => s.trim() },
  pages: { column: 'page_count', type: 'bigint' },
  published: { column: 'published_at', type: 'timestamptz' },
  draft: { column: 'draft', type: 'boolean' },
  createdAt: { column: 'created_at', type: 'timestamptz', readOnly: true },
});

describe('RecordColumns', () => {
  it('derives the column lists, leaving read-only columns out of what is written', () => {
    expect(COLUMNS.selectList).toBe('title, page_count, published_at, draft, created_at');
    expect(COLUMNS.insertList).toBe('title, page_count, published_at, draft');
    expect(COLUMNS.recordset).toBe('title text, page_count bigint, published_at timestamptz, draft boolean');
  });

  it('maps a row to a record and a record to a JSON row, converting types and keeping nulls', () => {
    const row = { title: ' a ', page_count: '5000000000', published_at: '2024-01-02T03:04:05.000Z', draft: false, created_at: new Date(0) };
    const note = COLUMNS.fromRow(row);
    expect(note).toEqual({
      title: 'a',
      pages: 5_000_000_000,
      published: new Date('2024-01-02T03:04:05Z'),
      draft: false,
      createdAt: new Date(0),
    });
    expect(COLUMNS.toJsonRow(note)).toEqual({
      title: 'a',
      page_count: 5_000_000_000,
      published_at: '2024-01-02T03:04:05.000Z',
      draft: false,
    });
    expect(COLUMNS.fromRow({ ...row, published_at: null }).published).toBeNull();
    expect(COLUMNS.toJsonRow({ ...note, published: null }).published_at).toBeNull();
  });
});
