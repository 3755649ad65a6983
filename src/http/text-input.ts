// Refuses text that a database cannot store, once, for every route of the management API:
// a NUL (PostgreSQL text cannot hold U+0000: 22021, and jsonb refuses \u0000: 22P05) or a lone
// UTF-16 surrogate (not Unicode at all: jsonb refuses its escape, 22P02, and text columns would
// silently store U+FFFD instead). Every string in the query, the path parameters and the parsed
// JSON body (object keys too) is checked before the handler runs, so no route reaches the
// database with one, and the 400 names the field to fix. Never walks recursively: a body may be
// nested thousands of levels deep, and the walk must not overflow the stack doing it.
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import { textProblem } from '../state/text.js';

/** `a.b`, `a[0]`, or `a["odd key"]` for a member of the value at `path`. */
function member(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (name !== key) return `${path}[${name}]`;
  return path ? `${path}.${key}` : key;
}

/** The path and problem of the first string in `value` (keys included) a database cannot store. */
export function firstBadText(value: unknown, root = ''): { path: string; problem: string } | undefined {
  const todo: Array<[unknown, string]> = [[value, root]];
  while (todo.length) {
    const [v, path] = todo.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return { path, problem };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) todo.push([v[i], member(path, i)]);
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i]!;
        const problem = textProblem(k);
        // eslint-disable-next-line no-control-regex -- NUL (and lone surrogates) in a key are what this masks
        if (problem) return { path: `${member(path, k.replace(/[\u0000\uD800-\uDFFF]/g, '?'))} (the key)`, problem };
        todo.push([x, member(path, k)]);
      }
    }
  }
  return undefined;
}

/** A preHandler: 400 naming the first query parameter, path parameter or body field that cannot be stored. */
export async function refuseUnstorableText(req: FastifyRequest): Promise<void> {
  const parts = [
    ['query', req.query],
    ['path', req.params],
    ['body', req.body],
  ] as const;
  for (const [source, value] of parts) {
    const bad = firstBadText(value);
    if (bad) throw errors.unstorableText(source, bad.path, bad.problem);
  }
}
