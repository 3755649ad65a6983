// A catalog record's columns, declared once: from one map (record field → column, SQL type) come
// the column lists of SELECT and INSERT, the json_to_recordset column definitions of a bulk
// upsert, and the mapping of a row to a record and of a record to a JSON row. So a field
// cannot be added to the record and forgotten in one of them (the map must name every field).
// It must never guess a type: bigint and timestamptz are converted explicitly both ways.

export type ColumnType = 'text' | 'bigint' | 'boolean' | 'timestamptz';

export interface Column {
  column: string;
  type: ColumnType;
  /** Set by the database (a default or the upsert's SQL), read only: left out of INSERT. */
  readOnly?: true;
  /** Equal values read from many rows share one string (see interner()). */
  intern?: true;
  /** Converts the value read (after the type's own conversion), e.g. to repair old rows. */
  read?: (v: string) => string;
}

/** Every field of the record T, with its column. */
export type ColumnsOf<T> = { readonly [P in keyof Required<T>]: Column };

type Row = Record<string, unknown>;

const identity = (s: string) => s;

/**
 * One string for equal values read from many rows (names, versions, sources): the database
 * driver makes a new string per row and column.
 */
export function interner(): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    const known = seen.get(s);
    if (known !== undefined) return known;
    seen.set(s, s);
    return s;
  };
}

function fromDb(c: Column, v: unknown, intern: (s: string) => string): unknown {
  if (v === null || v === undefined) return null;
  switch (c.type) {
    case 'bigint':
      return Number(v);
    case 'timestamptz':
      return new Date(v as Date | string);
    case 'boolean':
      return v;
    case 'text': {
      const s = c.read ? c.read(v as string) : (v as string);
      return c.intern ? intern(s) : s;
    }
  }
}

function toJson(c: Column, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  return c.type === 'timestamptz' ? (v as Date).toISOString() : v;
}

export class RecordColumns<T> {
  private readonly all: Array<[string, Column]>;
  private readonly written: Array<[string, Column]>;
  /** Columns an INSERT writes, comma-separated. */
  readonly insertList: string;
  /** Every column, comma-separated, for SELECT. */
  readonly selectList: string;
  /** The written columns with their types, for json_to_recordset(...) AS r(<here>). */
  readonly recordset: string;

  constructor(columns: ColumnsOf<T>) {
    this.all = Object.entries(columns);
    this.written = this.all.filter(([, c]) => !c.readOnly);
    this.insertList = this.written.map(([, c]) => c.column).join(', ');
    this.selectList = this.all.map(([, c]) => c.column).join(', ');
    this.recordset = this.written.map(([, c]) => `${c.column} ${c.type}`).join(', ');
  }

  /** The record a row read with selectList stands for. */
  fromRow(row: Row, intern: (s: string) => string = identity): T {
    const out: Row = {};
    for (const [field, c] of this.all) out[field] = fromDb(c, row[c.column], intern);
    return out as T;
  }

  /** The JSON row json_to_recordset reads back as the record's written columns. */
  toJsonRow(record: T): Row {
    const out: Row = {};
    for (const [field, c] of this.written) out[c.column] = toJson(c, (record as Row)[field]);
    return out;
  }
}
