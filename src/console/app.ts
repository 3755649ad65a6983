// The web console at /ui/: one fastify scope that sets the security headers (strict CSP, OWASP
// set) on every answer, loads the session from its cookie, refuses a POST without the session's
// CSRF token, refuses text a database cannot store, serves the two assets, renders every error
// as a page, and registers the pages. It must never serve a page without those headers, never
// let a POST through without the token, and never run anything on the package read paths
// (/pypi, /conda, /v2): every hook here is scoped to /ui.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import { errors } from '../errors.js';
import { toSafelistError } from '../http/errors.js';
import { refuseUnstorableText } from '../http/text-input.js';
import { registerAssets } from './assets.js';
import { CSP } from './csp.js';
import { html } from './html.js';
import { sameToken } from './session.js';
import { sendPage, type ConsoleDeps } from './types.js';
import { PAGES } from './pages/index.js';
import { registerSessionsApi } from './pages/sessions.js';

export { CSP } from './csp.js';

/** Secure cookies everywhere except a console configured at http://127.0.0.1 (a local trial; browsers keep no Secure cookie over plain HTTP elsewhere). */
export function cookieIsSecure(publicUrl: string | undefined): boolean {
  if (!publicUrl) return true;
  const u = new URL(publicUrl);
  return !(u.protocol === 'http:' && u.hostname === '127.0.0.1');
}

export function sessionCookieName(secure: boolean): string {
  // __Host-: the browser keeps it only if Secure, Path=/ and no Domain (no subdomain can plant one).
  return secure ? '__Host-safelist-console' : 'safelist-console';
}

function securityHeaders(reply: FastifyReply, hsts: boolean): void {
  reply.headers({
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
    'cache-control': 'no-store',
  });
  if (hsts) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
}

/** A POST must carry the session's token, in the form (_csrf) or the X-CSRF-Token header. */
async function checkCsrf(req: FastifyRequest): Promise<void> {
  if (req.method !== 'POST') return;
  const s = req.consoleSession;
  const body = req.body as Record<string, unknown> | undefined;
  const sent = typeof body?._csrf === 'string' ? body._csrf : req.headers['x-csrf-token'];
  if (!s || typeof sent !== 'string' || !sameToken(sent, s.csrf))
    throw errors.forbidden(
      'this form has expired or did not come from the Safelist console (CSRF token missing or wrong); reload the page and try again',
    );
}

function renderError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toSafelistError(err);
  if (e.status >= 500 && e.code !== 'UNAVAILABLE') req.log.error({ err }, 'console request failed');
  if (e.status === 503) reply.header('retry-after', '30');
  const signIn = e.status === 401 ? html`<p><a href="/ui/sign-in">Sign in</a></p>` : html``;
  return sendPage(req, reply, {
    title: e.title,
    nav: '',
    status: e.status,
    body: html`<p class="error" role="alert">${e.message}</p>
      ${signIn}`,
  });
}

export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const secure = cookieIsSecure(deps.config.server.publicUrl);
  const cookieName = sessionCookieName(secure);
  const hsts = deps.config.server.publicUrl?.startsWith('https:') ?? false;
  await app.register(
    async (ui) => {
      await ui.register(fastifyCookie);
      await ui.register(fastifyFormbody, { bodyLimit: 256 * 1024 });
      ui.decorate('consoleCookie', { name: cookieName, secure });
      ui.addHook('onRequest', async (req, reply) => {
        securityHeaders(reply, hsts);
        if (req.url.startsWith('/ui/assets/')) return;
        req.consoleSession = await deps.sessions.find(req.cookies[cookieName]);
      });
      ui.addHook('preHandler', checkCsrf);
      ui.addHook('preHandler', refuseUnstorableText);
      ui.setErrorHandler((err, req, reply) => renderError(req, reply, err));
      ui.setNotFoundHandler((req, reply) =>
        renderError(req, reply, errors.notFound(`there is no console page at ${req.url.split('?')[0]}`)),
      );
      registerAssets(ui);
      for (const register of PAGES) register(ui, deps);
    },
    { prefix: '/ui' },
  );
  // Outside /ui: the admin's API for ending someone's console sessions (the console owns them).
  registerSessionsApi(app, deps);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The console's session cookie (name, Secure): pages that sign in and out set and clear it. */
    consoleCookie: { name: string; secure: boolean };
  }
}
