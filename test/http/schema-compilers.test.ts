// fastify's schema compilers, loaded only when a route declares a fastify schema
// (src/http/schema-compilers.ts): such a route still has its body validated by ajv and its
// answer serialized by fast-json-stringify, exactly as with fastify's own default.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazySchemaCompilers } from '../../src/http/schema-compilers.js';

describe('lazy fastify schema compilers', () => {
  it('validate a body and serialize an answer as fastify would', async () => {
    const app = Fastify({ schemaController: { compilersFactory: lazySchemaCompilers } });
    app.post(
      '/echo',
      {
        schema: {
          body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 2 } } },
          response: { 200: { type: 'object', properties: { name: { type: 'string' } } } },
        },
      },
      async (req) => ({ ...(req.body as object), secret: 'left out by the response schema' }),
    );
    try {
      const ok = await app.inject({ method: 'POST', url: '/echo', payload: { name: 'demo' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ name: 'demo' });
      const bad = await app.inject({ method: 'POST', url: '/echo', payload: { name: 'x' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/body\/name must NOT have fewer than 2 characters/);
    } finally {
      await app.close();
    }
  });
});
