// The exception request form: prefilled from a package page, it shows the automatic triage of
// what is asked (ExceptionService.preview: the same checks and triage as the API's request)
// before anything is submitted; each dependency the view would still refuse has a checkbox that
// adds it to the same request (ExceptionService.createBundle). It must never record a request
// the API would refuse: the form is validated with the API's own schema. Its view picker offers
// only the views the identity may read (the service refuses a request for another with a 403).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ecosystemIds, grammars } from '../../ecosystems/index.js';
import { SafelistError } from '../../errors.js';
import type { ExceptionRequest } from '../../exceptions/service.js';
import { schemas } from '../../http/api.js';
import type { Ecosystem } from '../../policy/types.js';
import { parse } from '../../validate.js';
import type { Identity } from '../../auth/identity.js';
import { html, type Html } from '../html.js';
import { shownViews } from '../read-scope.js';
import { renderTriage } from '../triage-view.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { ecosystemSelect, pickView, viewSelect } from '../widgets.js';

const draft = z.object({
  ecosystem: z.enum(ecosystemIds as [string, ...string[]], `ecosystem must be one of ${ecosystemIds.join(', ')}`).optional(),
  name: z.string().max(200).optional(),
  versions: z.string().max(200).optional(),
  view: z.string().max(64).optional(),
  reason: z.string().max(2000).optional(),
  expires: z.string().max(40).optional(),
});
type Draft = z.infer<typeof draft>;

const submitted = z.object({
  ...draft.shape,
  also: z.union([z.string().max(500), z.array(z.string().max(500)).max(50)]).optional(),
  _csrf: z.string().optional(),
});

/** "2026-12-31" means the end of that day (as the API reads it). */
/** A form without an ecosystem asks about the registry's first. */
const DEFAULT_ECOSYSTEM: Ecosystem = ecosystemIds[0]!;

const expiryOf = (s: string | undefined) => (s ? new Date(s.length === 10 ? `${s}T23:59:59.999Z` : s) : undefined);

function toRequest(d: Draft, reason: string): ExceptionRequest {
  const expires = expiryOf(d.expires);
  return {
    ecosystem: d.ecosystem ?? DEFAULT_ECOSYSTEM,
    name: d.name ?? '',
    versions: d.versions ?? '',
    view: d.view ?? 'default',
    reason,
    ...(expires ? { expires } : {}),
  };
}

/** A dependency's requirement ("helper-lib>=1; python_version>'3'") as a request in the same view. */
function dependencyRequest(requirement: string, main: ExceptionRequest): ExceptionRequest {
  const grammar = grammars[main.ecosystem]!;
  const split = grammar.splitRequirement(requirement.split(';')[0]!.trim());
  const name = 'error' in split ? requirement.trim().split(/[\s<>=!~;(]/)[0]! : split.name;
  return { ...main, name, versions: 'error' in split ? '' : split.range, reason: `needed by ${main.name}: ${main.reason}` };
}

/** The views this identity may request for: those it reads ("*", every view, only when it reads them all). */
function requestableViews(deps: ConsoleDeps, who: Identity): { views: string[]; global: string[] } {
  const everyView = deps.config.auth.packageRead !== 'token' || who.readViews === '*';
  return { views: shownViews(deps, who), global: everyView ? ['*'] : [] };
}

function renderForm(deps: ConsoleDeps, req: FastifyRequest, d: Draft, preview: Html): Html {
  const { views, global } = requestableViews(deps, signedIn(req));
  const view = d.view ?? pickView(views, undefined);
  const csrf = req.consoleSession?.csrf ?? '';
  return html`<form method="get" action="/ui/request" id="draft">
      ${ecosystemSelect(d.ecosystem ?? DEFAULT_ECOSYSTEM, false)}
      <label for="name">Package name</label><input id="name" name="name" type="text" value="${d.name ?? ''}" required />
      <label for="versions"
        >Versions <span class="muted">(the ecosystem's own range, e.g. ==2.1.0 or &gt;=1.4,&lt;2; empty: every version)</span></label
      >
      <input id="versions" name="versions" type="text" value="${d.versions ?? ''}" />
      ${viewSelect(views, view, 'view', global)}
      <p><button type="submit" class="secondary">Check what this asks for</button></p>
    </form>
    ${preview}
    <form method="post" action="/ui/request" id="request-form">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <input type="hidden" name="ecosystem" value="${d.ecosystem ?? DEFAULT_ECOSYSTEM}" /><input
        type="hidden"
        name="name"
        value="${d.name ?? ''}"
      />
      <input type="hidden" name="versions" value="${d.versions ?? ''}" /><input type="hidden" name="view" value="${view}" />
      <label for="reason">Why you need it <span class="muted">(at least 10 characters; the approver reads this)</span></label>
      <textarea id="reason" name="reason" required minlength="10">${d.reason ?? ''}</textarea>
      <label for="expires">Until <span class="muted">(optional; default and maximum are set by the administrators)</span></label>
      <input id="expires" name="expires" type="date" value="${d.expires ?? ''}" />
      <p><button type="submit">Submit the request</button></p>
    </form>`;
}

async function previewOf(deps: ConsoleDeps, req: FastifyRequest, d: Draft): Promise<{ html: Html; status: number }> {
  if (!d.name) return { html: html``, status: 200 };
  try {
    const report = await deps.runtime.exceptions.preview(signedIn(req), toRequest(d, 'preview'));
    return {
      html: html`<section aria-labelledby="triage-h">
        <h2 id="triage-h">What this request asks for</h2>
        <p>Checked automatically; the approver sees the same. Ticked dependencies are requested together with it.</p>
        ${renderTriage(report, { pickForm: 'request-form', idPrefix: 'draft' })}
      </section>`,
      status: 200,
    };
  } catch (err) {
    if (!(err instanceof SafelistError) || err.status >= 500) throw err;
    return { html: html`<p class="error" role="alert">${err.message}</p>`, status: err.status };
  }
}

export function registerRequestPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/request', { preHandler: needs('requester', 'admin') }, async (req, reply) => {
    const asked = parse(draft, req.query, 'query');
    // An unknown view is kept as asked, so the preview says so; none asked: the usual default.
    const d = { ...asked, view: asked.view ?? pickView(requestableViews(deps, signedIn(req)).views, undefined) };
    const preview = await previewOf(deps, req, d);
    const body = renderForm(deps, req, d, preview.html);
    return sendPage(req, reply, { title: 'Request an exception', nav: '/ui/requests', body, status: preview.status });
  });

  app.post('/request', { preHandler: needs('requester', 'admin') }, async (req, reply) => {
    const { also, _csrf, ...d } = parse(submitted, req.body, 'form');
    // The API's own schema: the same limits and messages for the same request.
    const checked = parse(
      schemas.createException,
      { ...d, versions: d.versions ?? '', ...(d.expires ? { expires: d.expires } : { expires: undefined }) },
      'form',
    );
    const main = toRequest({ ...d, ...checked }, checked.reason);
    const extra = (Array.isArray(also) ? also : also ? [also] : []).map((r) => dependencyRequest(r, main));
    const created = await deps.runtime.exceptions.createBundle(signedIn(req), main, extra);
    return reply.redirect(`/ui/requests?created=${created.map((e) => e.id).join(',')}`, 303);
  });
}
