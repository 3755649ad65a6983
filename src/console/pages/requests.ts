// "My requests": the signed-in person's exception requests with their state, expiry, decision
// and note, and a withdraw button for the ones still waiting (ExceptionService.revoke, which
// lets a requester withdraw only their own pending request). It must never list another
// person's requests here, nor offer an action the service would refuse.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ExceptionRecord } from '../../exceptions/service.js';
import { parse } from '../../validate.js';
import { html, type Html } from '../html.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { dataTable, day } from '../widgets.js';

const exceptionId = z.string().regex(/^EXC-\d{1,12}$/, 'an exception id such as EXC-1001');
const query = z.object({ created: z.string().max(2000).optional(), withdrawn: exceptionId.optional() });
const withdraw = z.object({ _csrf: z.string().optional(), note: z.string().max(2000).optional() });

function row(e: ExceptionRecord, csrf: string): Html {
  const decided = e.decidedByName
    ? html`${e.state === 'revoked' && e.decidedBy === e.requestedBy ? 'withdrawn' : 'by'}
      ${e.decidedByName}${e.decisionNote ? html`: “${e.decisionNote}”` : html``}`
    : html`<span class="muted">waiting for an approver of ${e.view}</span>`;
  const action =
    e.state === 'requested'
      ? html`<form method="post" action="/ui/requests/${e.id}/withdraw" data-confirm="Withdraw ${e.id}?">
          <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit" class="secondary">Withdraw</button>
        </form>`
      : html``;
  return html`<tr>
    <th scope="row">
      <a href="/ui/requests/${e.id}">${e.id}</a>${e.bundle ? html`<br /><span class="muted">with ${e.bundle}</span>` : html``}
    </th>
    <td>${e.ecosystem} ${e.name} ${e.versions || 'any version'}</td>
    <td>${e.view}</td>
    <td class="status-${e.state === 'active' ? 'allowed' : e.state === 'requested' ? 'held' : 'blocked'}">${e.state}</td>
    <td>${day(e.expiresAt)}</td>
    <td>${decided}</td>
    <td>${action}</td>
  </tr>`;
}

export function registerRequestsPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/requests', { preHandler: needs() }, async (req, reply) => {
    const q = parse(query, req.query, 'query');
    const who = signedIn(req);
    const mine = await deps.runtime.exceptions.list({ requestedBy: who.oid, limit: 200 }, who);
    const notice = q.created
      ? `Requested: ${q.created.split(',').join(', ')}. Approvers of the view are notified.`
      : q.withdrawn
        ? `${q.withdrawn} is withdrawn.`
        : undefined;
    const body = mine.length
      ? dataTable(
          'Your exception requests',
          ['Request', 'Package', 'View', 'State', 'Expires', 'Decision', html`<span class="visually-hidden">Actions</span>`],
          mine.map((e) => row(e, req.consoleSession!.csrf)),
          { hiddenCaption: true },
        )
      : html`<p>You have no requests. Find a package with <a href="/ui/">Search</a> and request it from its page.</p>`;
    return sendPage(req, reply, { title: 'My requests', nav: '/ui/requests', body, ...(notice ? { notice } : {}) });
  });

  app.post<{ Params: { id: string } }>('/requests/:id/withdraw', { preHandler: needs() }, async (req, reply) => {
    const id = parse(exceptionId, req.params.id, 'id');
    const { note } = parse(withdraw, req.body, 'form');
    await deps.runtime.exceptions.revoke(signedIn(req), id, note || 'withdrawn by the requester');
    return reply.redirect(`/ui/requests?withdrawn=${id}`, 303);
  });
}
