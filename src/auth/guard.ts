// The route guard: a fastify hook that authenticates the caller and admits only identities
// holding one of a route's roles, leaving the identity on the request. Shared by every module
// that registers routes (the management API, jobs, the gate), which is why it lives in auth/
// and not in http/. It must never admit a request whose token failed to verify, nor one
// without a listed role (fail closed).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import { AuthError, type Authenticator, type Identity, type Role } from './identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

/** A preHandler (or onRequest hook) that admits identities holding any of the roles. */
export function requireRole(auth: Authenticator, roles: Role[]) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    let who: Identity | undefined;
    try {
      who = await auth.authenticate(req.headers.authorization);
    } catch (err) {
      if (err instanceof AuthError) {
        reply.header('www-authenticate', 'Bearer realm="safelist", error="invalid_token"');
        throw errors.unauthenticated(err.message);
      }
      throw err;
    }
    if (!who) {
      reply.header('www-authenticate', 'Bearer realm="safelist"');
      throw errors.unauthenticated(
        auth.enabled
          ? 'send a bearer token (Authorization: Bearer …)'
          : 'no identities are configured on this Safelist (auth.entra or auth.tokens); the management API is closed',
      );
    }
    if (!roles.some((r) => who.roles.has(r)))
      throw errors.forbidden(`this needs one of the roles ${roles.join(', ')}; you have ${[...who.roles].join(', ') || 'none'}`);
    req.identity = who;
  };
}
