// The console's sessions page (/ui/sessions): for anyone signed in, "sign out everywhere" (every
// session of one's own identity, on every browser and replica); for admins, the identities
// signed in now and a button that ends all sessions of one of them. Both are POSTs (CSRF-checked
// by the console) and audited in the same transaction as the sessions they end. The admin API
// (DELETE /api/v1/console/sessions/{oid}) does the same for scripts. It must never end a session
// without its audit record, nor let anyone but an admin end someone else's sessions.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import type { AuditLog } from '../../audit/log.js';
import { parse, requireRole } from '../../http/api.js';
import { html, type Html } from '../html.js';
import type { SessionStore } from '../session.js';
import { dataTable } from '../widgets.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';

const oidForm = z.object({ oid: z.string().trim().min(1, 'the oid of the identity').max(200), _csrf: z.string().optional() });

/** Ends every session of `oid` and audits it (actor: who asked); returns how many ended. */
export function endSessionsOf(
  sessions: SessionStore,
  audit: AuditLog,
  actor: string,
  oid: string,
  via: 'console' | 'api',
): Promise<number> {
  const self = actor === oid;
  return sessions.endAllOf(oid, (ended, q) =>
    audit.append(
      {
        actor,
        action: self ? 'console.signed-out-everywhere' : 'console.sessions-revoked',
        subject: oid,
        detail: { sessions: ended, via },
      },
      q,
    ),
  );
}

function adminSection(rows: Awaited<ReturnType<SessionStore['signedIn']>>, csrf: string): Html {
  if (!rows.length) return html`<p>Nobody is signed in.</p>`;
  const body = rows.map(
    (r) =>
      html`<tr>
        <td>${r.name}</td>
        <td><code>${r.oid}</code></td>
        <td>${r.sessions}</td>
        <td>${r.until.toISOString()}</td>
        <td>
          <form method="post" action="/ui/sessions/end">
            <input type="hidden" name="_csrf" value="${csrf}" /><input type="hidden" name="oid" value="${r.oid}" />
            <button type="submit" class="secondary" aria-label="End sessions of ${r.name}">End sessions</button>
          </form>
        </td>
      </tr>`,
  );
  return dataTable('Identities signed in now', ['Name', 'Identity (oid)', 'Sessions', 'Last one ends', ''], body);
}

async function sessionsPage(req: FastifyRequest, reply: FastifyReply, deps: ConsoleDeps, notice?: string) {
  const who: Identity = signedIn(req);
  const csrf = req.consoleSession!.csrf;
  const admin = who.roles.has('admin') ? await deps.sessions.signedIn() : undefined;
  const body = html`<section aria-labelledby="s-mine">
      <h2 id="s-mine">Your sessions</h2>
      <p>
        Your roles are read from the configuration on every request (${[...who.roles].join(', ') || 'none now'}). Signing out everywhere
        ends this session and every other one of yours, in every browser.
      </p>
      <form method="post" action="/ui/sessions/end-mine">
        <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">Sign out everywhere</button>
      </form>
    </section>
    ${
      admin
        ? html`<section aria-labelledby="s-all">
            <h2 id="s-all">Everyone's sessions</h2>
            ${adminSection(admin, csrf)}
          </section>`
        : html``
    }`;
  return sendPage(req, reply, { title: 'Sessions', nav: '', body, ...(notice ? { notice } : {}) });
}

export function registerSessionsPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/sessions', { preHandler: needs() }, (req, reply) => sessionsPage(req, reply, deps));

  app.post('/sessions/end-mine', { preHandler: needs() }, async (req, reply) => {
    const who = signedIn(req);
    await endSessionsOf(deps.sessions, deps.runtime.audit, who.oid, who.oid, 'console');
    reply.clearCookie(app.consoleCookie.name, { path: '/', secure: app.consoleCookie.secure, httpOnly: true, sameSite: 'lax' });
    return reply.redirect('/ui/sign-in', 303);
  });

  app.post('/sessions/end', { preHandler: needs('admin') }, async (req, reply) => {
    const { oid } = parse(oidForm, req.body, 'form');
    const who = signedIn(req);
    const ended = await endSessionsOf(deps.sessions, deps.runtime.audit, who.oid, oid, 'console');
    if (oid === who.oid) {
      reply.clearCookie(app.consoleCookie.name, { path: '/', secure: app.consoleCookie.secure, httpOnly: true, sameSite: 'lax' });
      return reply.redirect('/ui/sign-in', 303);
    }
    return sessionsPage(req, reply, deps, `Ended ${ended} session(s) of ${oid}.`);
  });
}

/** DELETE /api/v1/console/sessions/{oid} (admin): ends every console session of that identity; answers how many. */
export function registerSessionsApi(app: FastifyInstance, deps: ConsoleDeps): void {
  app.delete<{ Params: { oid: string } }>(
    '/api/v1/console/sessions/:oid',
    { preHandler: requireRole(deps.runtime.auth, ['admin']) },
    async (req) => {
      const oid = parse(z.string().min(1).max(200), req.params.oid, 'oid');
      return { oid, ended: await endSessionsOf(deps.sessions, deps.runtime.audit, req.identity!.oid, oid, 'api') };
    },
  );
}
