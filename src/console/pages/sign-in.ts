// Signing in and out of the console. With auth.console.oidc: OpenID Connect (Entra ID) through
// oidc.ts, the pending state kept in the visitor's session row. Without it (the embedded
// default): a form where a static token of auth.tokens is pasted, checked by the API's own
// Authenticator. Either way a new session id is issued at sign-in. It must never redirect to
// another site after sign-in (only to /ui/ paths), never keep a session after sign-out, and never
// sign in an identity with no role and no view to read (a 403 page saying what to ask for).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AuthError, tokenSha256, type Identity } from '../../auth/identity.js';
import { durationMs } from '../../config/schema.js';
import { errors } from '../../errors.js';
import { parse } from '../../validate.js';
import { consoleCsp } from '../csp.js';
import { consoleRefusal } from '../roles.js';
import { html } from '../html.js';
import type { Session, StoredIdentity } from '../session.js';
import { sendPage, type ConsoleDeps } from '../types.js';

/** Only a console path may follow sign-in (no open redirect: not //host, not /\host, not another scheme). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ui(\/[^\\]*)?$/.test(next) && !next.startsWith('//') ? next : '/ui/';
}

const tokenForm = z.object({ token: z.string().trim().min(1, 'paste your token').max(4096), next: z.string().max(2000).optional() });

function setCookie(app: FastifyInstance, reply: FastifyReply, value: string, maxAgeMs: number): void {
  reply.setCookie(app.consoleCookie.name, value, {
    path: '/',
    httpOnly: true,
    secure: app.consoleCookie.secure,
    sameSite: 'lax',
    maxAge: Math.floor(maxAgeMs / 1000),
  });
}

/** The visitor's session (a new one when there is none), so the sign-in form has a CSRF token. */
async function visitor(app: FastifyInstance, deps: ConsoleDeps, req: FastifyRequest, reply: FastifyReply): Promise<Session> {
  if (req.consoleSession) return req.consoleSession;
  const { cookie, session } = await deps.sessions.startVisit();
  setCookie(app, reply, cookie, session.expiresAt.getTime() - Date.now());
  req.consoleSession = session;
  return session;
}

async function signInAs(
  app: FastifyInstance,
  deps: ConsoleDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  who: StoredIdentity,
  next: string,
) {
  const { cookie } = await deps.sessions.signIn(who, req.consoleSession);
  setCookie(app, reply, cookie, durationMs(deps.config.auth.console.sessionTtl));
  return reply.redirect(next, 303);
}

function renderSignIn(deps: ConsoleDeps, csrf: string, next: string, problem?: string) {
  const error = problem ? html`<p class="error" role="alert">${problem}</p>` : html``;
  if (deps.oidc)
    return html`${error}
      <form method="post" action="/ui/auth/start">
        <input type="hidden" name="_csrf" value="${csrf}" /><input type="hidden" name="next" value="${next}" />
        <button type="submit">Sign in with Microsoft</button>
      </form>`;
  return html`${error}
    <p>
      This Safelist has no Microsoft Entra ID sign-in configured: sign in with the token you use for the API (<code>auth.tokens</code>).
    </p>
    <form method="post" action="/ui/sign-in">
      <input type="hidden" name="_csrf" value="${csrf}" /><input type="hidden" name="next" value="${next}" />
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" required />
      <p><button type="submit">Sign in</button></p>
    </form>`;
}

/** 403: the identity is genuine but has no role and reads no view (consoleRefusal); no session is signed in. */
function refuseSignIn(deps: ConsoleDeps, req: FastifyRequest, reply: FastifyReply, next: string, refusal: string) {
  const csrf = req.consoleSession?.csrf;
  const problem = `You are not admitted to the Safelist console: ${refusal}.`;
  const body = csrf ? renderSignIn(deps, csrf, next, problem) : html`<p class="error" role="alert">${problem}</p>`;
  return sendPage(req, reply, { title: 'No access to Safelist', nav: '/ui/sign-in', body, status: 403 });
}

export function registerSignInPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get<{ Querystring: { next?: string } }>('/sign-in', async (req, reply) => {
    const next = safeNext(req.query.next);
    if (req.consoleSession?.identity) return reply.redirect(next, 303);
    const s = await visitor(app, deps, req, reply);
    // The sign-in form is answered with a redirect to the provider: its origin must be a form target.
    if (deps.oidc) reply.header('content-security-policy', consoleCsp(await deps.oidc.signInOrigins()));
    return sendPage(req, reply, { title: 'Sign in', nav: '/ui/sign-in', body: renderSignIn(deps, s.csrf, next) });
  });

  app.post('/sign-in', async (req, reply) => {
    if (deps.oidc) throw errors.badRequest('this Safelist signs in with Microsoft Entra ID; use the "Sign in with Microsoft" button');
    const form = parse(tokenForm, req.body, 'form');
    const next = safeNext(form.next);
    let who: Identity;
    try {
      who = await deps.runtime.auth.fromToken(form.token);
      // The session re-derives its roles from the token's entry in auth.tokens on every request;
      // an Entra token has no entry (its roles would be frozen at sign-in): Entra users use OIDC.
      if (who.via !== 'static')
        throw new AuthError('this form takes a token of auth.tokens; Entra ID users sign in with auth.console.oidc');
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      const body = renderSignIn(deps, req.consoleSession!.csrf, next, err.message);
      return sendPage(req, reply, { title: 'Sign in', nav: '/ui/sign-in', body, status: 401 });
    }
    const refusal = consoleRefusal(deps.config, who);
    if (refusal) return refuseSignIn(deps, req, reply, next, refusal);
    const stored: StoredIdentity = {
      oid: who.oid,
      name: who.name,
      via: 'static',
      source: { kind: 'static', tokenSha256: tokenSha256(form.token) },
    };
    return signInAs(app, deps, req, reply, stored, next);
  });

  app.post('/auth/start', async (req, reply) => {
    if (!deps.oidc) throw errors.notFound('this Safelist has no OpenID Connect sign-in configured (auth.console.oidc)');
    const next = safeNext((req.body as { next?: unknown } | undefined)?.next);
    const { url, pending } = await deps.oidc.start();
    if (req.consoleSession) await deps.sessions.end(req.consoleSession);
    const { cookie, session } = await deps.sessions.startVisit({ ...pending, returnTo: next });
    setCookie(app, reply, cookie, session.expiresAt.getTime() - Date.now());
    return reply.redirect(url.href, 303);
  });

  app.get('/auth/callback', async (req, reply) => {
    if (!deps.oidc) throw errors.notFound('this Safelist has no OpenID Connect sign-in configured (auth.console.oidc)');
    const pending = req.consoleSession ? await deps.sessions.takeOidc(req.consoleSession) : undefined;
    if (!pending) throw errors.badRequest('this sign-in has expired or was already used; start again from the sign-in page');
    const callback = new URL(deps.oidc.redirectUri);
    callback.search = new URL(req.url, 'http://console.invalid').search;
    const { stored, identity } = await deps.oidc.finish(callback, pending);
    const refusal = consoleRefusal(deps.config, identity);
    if (refusal) return refuseSignIn(deps, req, reply, safeNext(pending.returnTo), refusal);
    return signInAs(app, deps, req, reply, stored, safeNext(pending.returnTo));
  });

  app.post('/sign-out', async (req, reply) => {
    if (req.consoleSession) await deps.sessions.end(req.consoleSession);
    reply.clearCookie(app.consoleCookie.name, { path: '/', secure: app.consoleCookie.secure, httpOnly: true, sameSite: 'lax' });
    return reply.redirect('/ui/sign-in', 303);
  });
}
