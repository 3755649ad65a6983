// The route guards: a fastify hook that authenticates the caller and admits only identities
// holding one of a route's roles, leaving the identity on the request; and the package-read
// check (auth.packageRead: token) the HTTP app runs on every read path, which admits a token
// only to the views it is granted. Shared by every module that registers routes (the management
// API, jobs, the gate), which is why it lives in auth/ and not in http/. It must never admit a
// request whose token failed to verify, one without a listed role, nor a package read of a
// view the token is not granted (fail closed).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, SafelistError } from '../errors.js';
import { AuthError, canRead, type Authenticator, type Identity, type Role } from './identity.js';

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

/**
 * The identity behind a package request's token: the /t/<token>/ path prefix's (still
 * percent-encoded) when there is one, else the Authorization header's. 401 without a token or
 * with one that is not valid; 503 when Entra's keys cannot be had (never "invalid" then).
 * `tokenHint` says how each client sends one.
 */
export async function packageReader(
  auth: Authenticator | undefined,
  pathToken: string | undefined,
  header: string | undefined,
  tokenHint: string,
): Promise<Identity> {
  // Fail closed: without an authenticator every package request is refused.
  if (!auth) throw errors.unauthenticated('package access needs a token, and no identities are configured');
  let who: Identity | undefined;
  try {
    who = pathToken !== undefined ? await auth.fromToken(decodeURIComponent(pathToken)) : await auth.authenticate(header);
  } catch (err) {
    // "Cannot check now" (the Entra keys unreachable: 503) is not "invalid token" (401).
    if (err instanceof SafelistError) throw err;
    throw errors.unauthenticated(`package access needs a valid token: ${(err as Error).message}`);
  }
  if (!who) throw errors.unauthenticated(`package access needs a token: ${tokenHint}`);
  return who;
}

/** Refuses (403, naming the view and what to ask for) a package read of a view this identity is not granted. */
export function requireRead(auth: Authenticator, who: Identity, view: string): void {
  if (canRead(who, view)) return;
  view = view.slice(0, 100); // from the URL: any length, any text
  const reads = who.readViews === '*' ? 'every view' : [...who.readViews].join(', ') || 'no view';
  throw errors.readNotGranted(
    `${who.name} may not read the packages of view "${view}" (it reads: ${reads}); ${auth.readGrantHint(who, view)}`,
    view,
  );
}
