// Builds a parameterised WHERE clause from optional filters: each condition is SQL with one
// '?' for its value; undefined values are skipped. Values never enter the SQL text.
export function whereClause(conds: Array<[sql: string, value: unknown]>): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [sql, value] of conds) {
    if (value === undefined || value === null || value === '') continue;
    params.push(value);
    parts.push(sql.replace('?', `$${params.length}`));
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}
