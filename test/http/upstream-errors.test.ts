// How an upstream failure reads over HTTP, decided in one place (src/http/errors.ts): outages and
// timeouts are 503 with Retry-After (the client may try again), bad upstream data and refused
// credentials 502, a name the upstream lacks 404, a request the client should not make 400, each
// as problem+json naming the upstream and keeping the code callers check. Driven through a real
// Fastify instance with the same error path the app uses (toSafelistError, then sendProblem).
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendProblem, toSafelistError } from '../../src/http/errors.js';
import { UPSTREAM, UpstreamError, type UpstreamErrorCode } from '../../src/upstream/types.js';

describe('upstream failures over HTTP', () => {
  const app = Fastify();

  beforeAll(async () => {
    app.setErrorHandler((err, req, reply) => sendProblem(req, reply, toSafelistError(err)));
    app.get<{ Params: { code: string } }>('/fail/:code', async (req) => {
      throw new UpstreamError('pypi-org', req.params.code as UpstreamErrorCode, `pypi-org: failed with ${req.params.code}`, {
        status: 500,
      });
    });
    await app.ready();
  });
  afterAll(() => app.close());

  it.each([
    [UPSTREAM.UNAVAILABLE, 503, true],
    [UPSTREAM.TIMEOUT, 503, true],
    [UPSTREAM.BAD_RESPONSE, 502, false],
    [UPSTREAM.INTEGRITY, 502, false],
    [UPSTREAM.DENIED, 502, false],
    [UPSTREAM.NOT_FOUND, 404, false],
    [UPSTREAM.INVALID_REQUEST, 400, false],
  ])('%s answers %i (Retry-After: %s)', async (code, status, retry) => {
    const res = await app.inject({ method: 'GET', url: `/fail/${code}` });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['retry-after'] !== undefined).toBe(retry);
    expect(res.json()).toMatchObject({ status, code, upstream: 'pypi-org', detail: `pypi-org: failed with ${code}` });
  });
});
