// fastify's JSON-schema compilers (ajv for validation, fast-json-stringify for responses), required
// the first time a route with a fastify schema is compiled instead of when the app is built.
// fastify requires both at construction by default: ajv, its formats and JTD, fast-uri and
// fast-json-stringify are ~2 MiB of heap in every server, and Safelist's routes validate with
// zod (http/api.ts) and declare no fastify schema, so they are never needed today. A route that
// declares one gets the same compilers fastify would have built (one factory per server, as
// fastify's own default); fastify then treats them as custom compilers, which only means it
// leaves a headers schema's property names as written (write them in lowercase).
// It must never change what a route validates or serializes, only when the compilers load.
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/** What @fastify/ajv-compiler and @fastify/fast-json-stringify-compiler export: () => a factory of compilers. */
type Factory = (externalSchemas: unknown, options?: unknown) => unknown;

/** Requires a package as fastify itself does (they are fastify's dependencies, not ours). */
const fromFastify = createRequire(import.meta.resolve('fastify'));

let validators: Factory | undefined;
let serializers: Factory | undefined;

/** For Fastify({ schemaController: { compilersFactory } }). */
export const lazySchemaCompilers = {
  buildValidator: (externalSchemas: unknown, options?: unknown) =>
    (validators ??= (fromFastify('@fastify/ajv-compiler') as () => Factory)())(externalSchemas, options),
  buildSerializer: (externalSchemas: unknown, options?: unknown) =>
    (serializers ??= (fromFastify('@fastify/fast-json-stringify-compiler') as () => Factory)())(externalSchemas, options),
} as CompilersFactory;
