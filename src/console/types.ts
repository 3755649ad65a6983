// The console's page contract: what every page module receives and the helpers it renders
// with. Each page lives in pages/<name>.ts and exports `registerXxxPage(app, deps)`, where `app`
// is the console's own fastify scope (prefix /ui: a page registers '/queue', served at
// /ui/queue) that already sets the security headers, loads the session, checks CSRF on every
// POST and renders errors as pages. A page must never implement a decision itself: it calls the
// same services as the API (exceptions/service.ts, policy/explain.ts, triage, gate/store.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Identity, Role } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import { errors } from '../errors.js';
import type { GateStore } from '../gate/store.js';
import type { JobRunner } from '../jobs/runner.js';
import type { Runtime } from '../runtime.js';
import type { Html } from './html.js';
import { renderPage } from './layout.js';
import type { ConsoleOidc } from './oidc.js';
import type { Session, SessionStore } from './session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session behind the cookie (/ui only); undefined for a first visit. */
    consoleSession?: Session;
  }
}

export interface ConsoleDeps {
  /** The core every page reads through: policies, catalogs, exceptions, audit, auth, db. */
  runtime: Runtime;
  config: Config;
  sessions: SessionStore;
  /** OpenID Connect sign-in; undefined when auth.console.oidc is not configured (static-token sign-in). */
  oidc: ConsoleOidc | undefined;
  /** The container gate's records (the gate page); absent when the server runs no gate. */
  gate?: GateStore;
  /** The one job runner (the sync status page). */
  jobs?: JobRunner;
}

/** What a page sends: title, navigation entry, body; the frame adds who is signed in and the CSRF token. */
export interface PageReply {
  title: string;
  nav: string;
  body: Html;
  notice?: string;
  status?: number;
}

/** Renders a page into the console frame and sends it (HTML, never cached). */
export function sendPage(req: FastifyRequest, reply: FastifyReply, p: PageReply): FastifyReply {
  const s = req.consoleSession;
  const doc = renderPage({
    title: p.title,
    nav: p.nav,
    body: p.body,
    who: s?.identity,
    csrf: s?.csrf,
    ...(p.notice ? { notice: p.notice } : {}),
  });
  return reply
    .code(p.status ?? 200)
    .type('text/html; charset=utf-8')
    .send(doc.text);
}

/** The signed-in identity; 401 (a sign-in page) when there is none. */
export function signedIn(req: FastifyRequest): Identity {
  const who = req.consoleSession?.identity;
  if (!who) throw errors.unauthenticated('sign in to use the Safelist console');
  return who;
}

/**
 * A preHandler admitting signed-in identities with one of the roles (any role when none are
 * listed). A page asked for without a session sends the browser to the sign-in page and back.
 */
export function needs(...roles: Role[]) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const who = req.consoleSession?.identity;
    if (!who) {
      if (req.method === 'GET') return reply.redirect(`/ui/sign-in?next=${encodeURIComponent(req.url)}`, 303);
      throw errors.unauthenticated('your console session has ended; sign in again and repeat this');
    }
    if (roles.length && !roles.some((r) => who.roles.has(r)))
      throw errors.forbidden(`this page needs one of the roles ${roles.join(', ')}; you have ${[...who.roles].join(', ') || 'none'}`);
    return undefined;
  };
}
