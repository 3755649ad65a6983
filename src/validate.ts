// Validates request input (bodies, queries, parameters) against a zod schema and turns a failure
// into a 400 that names each bad field, so every route answers bad input the same way. Lives at
// the bottom layer, beside errors.ts, so any route module may use it. It must never accept input
// the schema rejects, nor throw anything but a SafelistError with code BAD_REQUEST.
import type { z } from 'zod';
import { errors } from './errors.js';

/** Validates input against a schema, or answers 400 naming each bad field. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const detail = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`).join('; ');
  throw errors.badRequest(`invalid ${where}: ${detail}`);
}
