// One exception request (/ui/requests/EXC-…), the page notifications link to: what is asked, by
// whom and why, its triage, the requests asked together with it, its state and decision; the
// decision form when this person may decide it (posting to the queue's decide route, so there
// is one decision path), or why they may not; withdraw for its requester while it waits. It
// must never offer a decision ExceptionService would refuse without saying why.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import type { ExceptionRecord } from '../../exceptions/service.js';
import { parse } from '../../validate.js';
import { html, type Html } from '../html.js';
import { renderTriage } from '../triage-view.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { day } from '../widgets.js';
import { cannotDecide } from './queue.js';

const exceptionId = z.string().regex(/^EXC-\d{1,12}$/, 'an exception id such as EXC-1001');

function actions(who: Identity, e: ExceptionRecord, csrf: string): Html {
  if (e.state !== 'requested') return html``;
  const withdraw =
    e.requestedBy === who.oid
      ? html`<form method="post" action="/ui/requests/${e.id}/withdraw" data-confirm="Withdraw ${e.id}?">
          <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit" class="secondary">Withdraw this request</button>
        </form>`
      : html``;
  if (!who.roles.has('approver') && !who.roles.has('admin')) return withdraw;
  const why = cannotDecide(who, e);
  if (why)
    return html`<p class="notice">You cannot decide this request: ${why}.</p>
      ${withdraw}`;
  return html`<h2>Decide</h2>
    <form method="post" action="/ui/queue/decide">
      <input type="hidden" name="_csrf" value="${csrf}" /><input type="hidden" name="ids" value="${e.id}" />
      <label for="note">Note to the requester <span class="muted">(kept in the audit trail)</span></label>
      <textarea id="note" name="note" maxlength="2000"></textarea>
      <p>
        <button type="submit" name="decision" value="approve">Approve</button>
        <button type="submit" name="decision" value="reject" class="secondary">Reject</button>
      </p>
    </form>`;
}

function facts(e: ExceptionRecord, together: ExceptionRecord[]): Html {
  const link = (id: string) => html`<a href="/ui/requests/${id}">${id}</a>`;
  const bundle = e.bundle
    ? html`<dt>Asked together with</dt>
        <dd>${link(e.bundle)}</dd>`
    : together.length
      ? html`<dt>Asked together with it</dt>
          <dd>${together.map((t, i) => html`${i ? ', ' : ''}${link(t.id)} (${t.name} ${t.versions || 'any version'})`)}</dd>`
      : html``;
  return html`<dl>
    <dt>Package</dt>
    <dd>${e.ecosystem} ${e.name} ${e.versions || 'any version'}</dd>
    <dt>View</dt>
    <dd>${e.view === '*' ? 'every view (global)' : e.view}</dd>
    <dt>State</dt>
    <dd>${e.state}</dd>
    <dt>Requested by</dt>
    <dd>${e.requestedByName}, ${day(e.requestedAt)}</dd>
    <dt>Reason</dt>
    <dd>${e.reason}</dd>
    <dt>Until</dt>
    <dd>${day(e.expiresAt)}</dd>
    ${
      e.decidedByName
        ? html`<dt>Decided by</dt>
            <dd>
              ${e.decidedByName}${e.decidedAt ? html`, ${day(e.decidedAt)}` : html``}${e.decisionNote ? html`: “${e.decisionNote}”` : html``}
            </dd>`
        : html``
    }
    ${bundle}
  </dl>`;
}

export function registerRequestDetailPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get<{ Params: { id: string } }>(
    '/requests/:id',
    { preHandler: needs('requester', 'approver', 'admin', 'auditor') },
    async (req, reply) => {
      const id = parse(exceptionId, req.params.id, 'id');
      const who = signedIn(req);
      const e = await deps.runtime.exceptions.get(id, who);
      const together = e.bundle ? [] : await deps.runtime.exceptions.list({ bundle: e.id }, who);
      const body = html`${facts(e, together)}
        <h2>Triage</h2>
        ${renderTriage(e.triage, { idPrefix: e.id })} ${actions(who, e, req.consoleSession!.csrf)}`;
      return sendPage(req, reply, { title: `Request ${e.id}`, nav: '/ui/requests', body });
    },
  );
}
