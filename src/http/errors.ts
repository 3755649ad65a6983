// Maps errors to HTTP in one place: RFC 9457 problem+json bodies (exactly that content type,
// which uv requires before it prints title and detail) and a reason phrase carrying the same
// message (the only thing pip prints). Upstream failures: outages 503 with Retry-After, bad
// upstream data 502. Unknown errors become a 500 without internals.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SafelistError } from '../errors.js';
import { reasonPhrase } from '../serve/reason.js';
import { UPSTREAM, UpstreamError, type UpstreamErrorCode } from '../upstream/types.js';

export { reasonPhrase };

export function problemBody(err: SafelistError, instance: string, requestId: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: `https://safelist.dev/problems/${err.code.toLowerCase().replace(/_/g, '-')}`,
      title: err.title,
      status: err.status,
      detail: err.message,
      instance,
      code: err.code,
      requestId,
      ...err.extra,
    }),
  );
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, err: SafelistError): FastifyReply {
  reply.raw.statusMessage = reasonPhrase(`${err.title} - ${err.message}`);
  reply.code(err.status).header('content-type', 'application/problem+json').header('cache-control', 'no-store');
  if (err.status === 503) reply.header('retry-after', '30');
  return reply.send(problemBody(err, req.url, String(req.id)));
}

/** Fastify's own errors (bad JSON, body too large, bad URL) keep their 4xx status. */
export function toSafelistError(err: unknown): SafelistError {
  if (err instanceof SafelistError) return err;
  if (err instanceof UpstreamError) return fromUpstream(err);
  const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new SafelistError(e.code ?? 'BAD_REQUEST', e.statusCode, 'Bad request', e.message ?? 'the request is not valid');
  }
  if (isUnavailable(err))
    return new SafelistError(
      'UNAVAILABLE',
      503,
      'Service unavailable',
      'the database is unreachable; Safelist keeps serving packages from memory, retry this shortly',
    );
  return new SafelistError(
    'INTERNAL',
    500,
    'Internal error',
    'Safelist failed to answer this request; the error is logged with the request id',
  );
}

/** How each upstream failure reads over HTTP: outages 503 (with Retry-After), bad upstream data 502. */
const UPSTREAM_STATUS: Record<UpstreamErrorCode, { status: number; title: string }> = {
  [UPSTREAM.UNAVAILABLE]: { status: 503, title: 'Upstream unavailable' },
  [UPSTREAM.TIMEOUT]: { status: 503, title: 'Upstream timed out' },
  [UPSTREAM.NOT_FOUND]: { status: 404, title: 'Not found upstream' },
  [UPSTREAM.DENIED]: { status: 502, title: 'Upstream refused our credentials' },
  [UPSTREAM.BAD_RESPONSE]: { status: 502, title: 'Bad upstream response' },
  [UPSTREAM.INTEGRITY]: { status: 502, title: 'Upstream integrity failure' },
  [UPSTREAM.INVALID_REQUEST]: { status: 400, title: 'Bad request' },
};

/** An UpstreamError as the problem a client sees (its message names the upstream, never credentials). */
export function fromUpstream(err: UpstreamError): SafelistError {
  const { status, title } = UPSTREAM_STATUS[err.code];
  return new SafelistError(err.code, status, title, err.message, { upstream: err.upstream });
}

/** A dependency that is down rather than a bug: connection refused/reset, PostgreSQL shutting down. */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300'].includes(e.code ?? '')) return true;
  if (typeof e.code === 'string' && e.code.startsWith('08')) return true; // connection exceptions
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message ?? '');
}
