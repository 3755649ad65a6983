// The approver queue: requests waiting for a decision (the ones this approver may decide, or
// all), per view, each with its triage; approve or reject several at once with a note; what
// expires soon. Decisions go through ExceptionService.approve/reject, which enforce separation
// of duties and the approver's views; the page explains them before anyone clicks. It must never
// decide a request itself, nor hide why a request cannot be decided by this person.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { canApprove, type Identity } from '../../auth/identity.js';
import { durationMs } from '../../config/schema.js';
import { SafelistError } from '../../errors.js';
import { shows, showsView } from '../../exceptions/scope.js';
import type { ExceptionRecord } from '../../exceptions/service.js';
import { parse } from '../../validate.js';
import { html, type Html } from '../html.js';
import { renderTriage } from '../triage-view.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { dataTable, day, viewSelect } from '../widgets.js';

const query = z.object({ scope: z.enum(['mine', 'all']).optional(), view: z.string().max(64).optional() });
const exceptionId = z.string().regex(/^EXC-\d{1,12}$/, 'an exception id such as EXC-1001');
const decideForm = z.object({
  _csrf: z.string().optional(),
  ids: z.union([exceptionId, z.array(exceptionId).min(1).max(100)], 'tick at least one request'),
  decision: z.enum(['approve', 'reject'], 'choose approve or reject'),
  note: z.string().max(2000).optional(),
});

/** Why this person cannot decide a request, or undefined when they can. */
export function cannotDecide(who: Identity, e: ExceptionRecord): string | undefined {
  if (e.requestedBy === who.oid) return 'you requested this: another approver must decide it (separation of duties)';
  if (!canApprove(who, e.view))
    return e.view === '*' ? 'a global exception is decided by an admin' : `you do not approve for view ${e.view}`;
  return undefined;
}

function renderRequest(who: Identity, e: ExceptionRecord): Html {
  const why = cannotDecide(who, e);
  const box = why
    ? html`<span class="muted">${why}</span>`
    : html`<input type="checkbox" name="ids" value="${e.id}" id="pick-${e.id}" form="decide-form" />
        <label class="inline" for="pick-${e.id}"><span class="visually-hidden">Decide ${e.id}</span></label>`;
  return html`<tr>
    <td>${box}</td>
    <th scope="row">
      <a href="/ui/requests/${e.id}">${e.id}</a>${e.bundle ? html`<br /><span class="muted">with ${e.bundle}</span>` : html``}
    </th>
    <td>
      <a href="/ui/packages/${e.ecosystem}/${encodeURIComponent(e.name)}?view=${encodeURIComponent(e.view === '*' ? '' : e.view)}"
        >${e.name}</a
      >
      (${e.ecosystem}) ${e.versions || 'any version'}
    </td>
    <td>${e.view}</td>
    <td>${e.requestedByName}<br />${day(e.requestedAt)}</td>
    <td>${e.reason}</td>
    <td>${day(e.expiresAt)}</td>
    <td>
      <details>
        <summary>Triage</summary>
        ${renderTriage(e.triage, { idPrefix: e.id })}
      </details>
    </td>
  </tr>`;
}

/** Requests in bundle order: each bundle's members right after the request they came with. */
function bundled(list: ExceptionRecord[]): ExceptionRecord[] {
  return [...list].sort(
    (a, b) =>
      (a.bundle ?? a.id).localeCompare(b.bundle ?? b.id, 'en', { numeric: true }) || a.id.localeCompare(b.id, 'en', { numeric: true }),
  );
}

async function renderQueue(deps: ConsoleDeps, req: FastifyRequest, scope: 'mine' | 'all', view: string | undefined): Promise<Html> {
  const who = signedIn(req);
  const waiting = await deps.runtime.exceptions.list({ state: 'requested', ...(view ? { view } : {}), limit: 500 }, who);
  const scoped = deps.runtime.exceptions.scopeOf(who);
  const shown = bundled(scope === 'mine' ? waiting.filter((e) => !cannotDecide(who, e)) : waiting);
  const soon = (await deps.runtime.exceptions.expiringWithin(durationMs(deps.config.exceptions.warnBefore))).filter(
    (e) => (!view || e.view === view) && shows(scoped, e) && (scope === 'all' || canApprove(who, e.view)),
  );
  // The views whose requests this page can show: those it reads or approves for (scope.ts).
  const views = deps.runtime.policies.policy.viewNames().filter((v) => showsView(scoped, v));
  const mineViews = who.approverViews === '*' ? 'every view' : [...who.approverViews].join(', ') || 'no view';
  const table = shown.length
    ? html`${dataTable(
          'Requests waiting for a decision',
          [
            html`<input type="checkbox" data-select-all="ids" id="pick-all" aria-label="Select every request" />`,
            'Request',
            'Package',
            'View',
            'Requested by',
            'Reason',
            'Until',
            'Triage',
          ],
          shown.map((e) => renderRequest(who, e)),
          { hiddenCaption: true },
        )}
        <form method="post" action="/ui/queue/decide" id="decide-form">
          <input type="hidden" name="_csrf" value="${req.consoleSession!.csrf}" />
          <label for="note">Note to the requester <span class="muted">(kept in the audit trail)</span></label>
          <textarea id="note" name="note" maxlength="2000"></textarea>
          <p>
            <button type="submit" name="decision" value="approve">Approve selected</button>
            <button type="submit" name="decision" value="reject" class="secondary">Reject selected</button>
          </p>
        </form>`
    : html`<p>No request is waiting${scope === 'mine' ? ' for you' : ''}${view ? ` in view ${view}` : ''}.</p>`;
  const expiring = soon.length
    ? html`<ul>
        ${soon.map((e) => html`<li>${e.id}: ${e.name} ${e.versions || 'any version'} in ${e.view} ends ${day(e.expiresAt)}</li>`)}
      </ul>`
    : html`<p>Nothing ends within ${deps.config.exceptions.warnBefore}.</p>`;
  return html`<p class="notice">
      You decide requests for ${mineViews}. Nobody decides their own request: another approver must (separation of duties); the console and
      the API both refuse it.
    </p>
    <form method="get" action="/ui/queue">
      <fieldset>
        <legend>Show</legend>
        <input type="radio" id="scope-mine" name="scope" value="mine" ${scope === 'mine' ? html` checked` : html``} />
        <label class="inline" for="scope-mine">requests I can decide</label>
        <input type="radio" id="scope-all" name="scope" value="all" ${scope === 'all' ? html` checked` : html``} />
        <label class="inline" for="scope-all">all requests</label>
      </fieldset>
      ${viewSelect(views, view ?? '', 'view', [''])} <button type="submit" class="secondary">Show</button>
    </form>
    ${table}
    <h2>Ending within ${deps.config.exceptions.warnBefore}</h2>
    ${expiring}`;
}

export function registerQueuePage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/queue', { preHandler: needs('approver', 'admin') }, async (req, reply) => {
    const q = parse(query, req.query, 'query');
    const body = await renderQueue(deps, req, q.scope ?? 'mine', q.view || undefined);
    return sendPage(req, reply, { title: 'Approvals', nav: '/ui/queue', body });
  });

  app.post('/queue/decide', { preHandler: needs('approver', 'admin') }, async (req, reply) => {
    const form = parse(decideForm, req.body, 'form');
    const who = signedIn(req);
    const done: string[] = [];
    const refused: Array<{ id: string; error: SafelistError }> = [];
    for (const id of Array.isArray(form.ids) ? form.ids : [form.ids]) {
      try {
        await deps.runtime.exceptions[form.decision](who, id, form.note || undefined);
        done.push(id);
      } catch (err) {
        if (!(err instanceof SafelistError) || err.status >= 500) throw err;
        refused.push({ id, error: err });
      }
    }
    // Nothing decided: the answer is the refusal itself (403 for separation of duties, 409 for a decided one).
    if (!done.length) throw refused[0]!.error;
    const verb = form.decision === 'approve' ? 'Approved' : 'Rejected';
    const body = html`${
      refused.length
        ? html`<div class="error" role="alert">
            <p>Not decided:</p>
            <ul>
              ${refused.map((r) => html`<li>${r.id}: ${r.error.message}</li>`)}
            </ul>
          </div>`
        : html``
    }
    ${await renderQueue(deps, req, 'mine', undefined)}`;
    return sendPage(req, reply, { title: 'Approvals', nav: '/ui/queue', body, notice: `${verb}: ${done.join(', ')}.` });
  });
}
