// The console's workspace setup page (/ui/onboarding): for each view, each ecosystem's client
// configuration (pip.conf, .condarc…) and the Azure ML environment that point a workspace at Safelist only, with
// copy buttons (enhance.ts; the text stays selectable without script). Open to anyone signed in,
// for the views they may read (all with anonymous package reads), as GET /api/v1/workspaces/{view}/config is. Snippets come from onboarding/workspace.ts; the
// base URL is never a request's Host header.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parse } from '../../validate.js';
import type { Onboarding } from '../../onboarding/workspace.js';
import { html, type Html } from '../html.js';
import { pickShownView } from '../read-scope.js';
import { needs, sendPage, signedIn, type ConsoleDeps } from '../types.js';
import { onboardingPage } from '../views/onboarding.js';
import { viewSelect } from '../widgets.js';

function snippet(id: string, title: string, text: string): Html {
  return html`<h3 id="${id}-title">${title}</h3>
    <pre id="${id}" aria-labelledby="${id}-title">${text}</pre>
    <button type="button" class="secondary" data-copy="${id}" hidden>Copy ${title}</button>`;
}

function viewSection(o: Onboarding): Html {
  const id = (what: string) => `${what}-${o.view.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return html`<section>
    <h2>View ${o.view}</h2>
    ${o.snippets.map((s) => snippet(id(s.id), s.title, s.text))} ${snippet(id('azureml'), 'Azure ML environment', o.azureMlEnvironment)}
  </section>`;
}

export function registerOnboardingPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/onboarding', { preHandler: needs() }, async (req, reply) => {
    const { view: asked } = parse(z.strictObject({ view: z.string().max(64).optional() }), req.query, 'query');
    // The views it may read (403 for another, before any "no such view"), as GET /api/v1/workspaces/{view}/config.
    const { view, views } = pickShownView(deps, signedIn(req), asked);
    const v = onboardingPage(deps.config, [view], app.server.address());
    const body = html`<form method="get" action="/ui/onboarding">${viewSelect(views, view)} <button type="submit">Show</button></form>
      <p>Put these files in the workspace's image or compute set-up. Safelist is the only index and channel: never add extra-index-url.</p>
      ${v.views.map(viewSection)}`;
    return sendPage(req, reply, { title: 'Workspace setup', nav: '/ui/onboarding', body });
  });
}
