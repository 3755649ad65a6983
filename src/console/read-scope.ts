// Which views' packages and policy a console identity is shown: with auth.packageRead token, the
// views it may read (the API's /api/v1/policy/why and the read paths admit the same token to the
// same views); with anonymous package reads, every view, as the API shows them to anyone. Pages
// that show what a view allows (search, package) pick their view here. It must never pick, list
// or explain a view the identity may not read, and says no more about an unknown view than the
// read path does (a 403 before any "no such view").
import { canRead, type Identity } from '../auth/identity.js';
import { errors } from '../errors.js';
import type { ConsoleDeps } from './types.js';
import { pickView } from './widgets.js';

/** What the holder of a console identity asks for to read a view (OIDC sign-ins use the console's role prefix). */
export function readGrantHint(deps: Pick<ConsoleDeps, 'config' | 'runtime'>, who: Identity, view: string): string {
  const oidc = deps.config.auth.console.oidc;
  if (who.via === 'entra' && oidc) return `ask a Safelist administrator for the Entra app role ${oidc.rolePrefix}Reader.${view}`;
  return deps.runtime.auth.readGrantHint(who, view);
}

/** The configured views this identity is shown, in configuration order. */
export function shownViews(deps: Pick<ConsoleDeps, 'config' | 'runtime'>, who: Identity): string[] {
  const views = deps.runtime.policies.policy.viewNames();
  return deps.config.auth.packageRead === 'token' ? views.filter((v) => canRead(who, v)) : views;
}

/**
 * The view a page about packages shows, and the views its picker offers: the one asked for when
 * the identity may read it (403 READ_NOT_GRANTED naming it and what to ask for otherwise; 404 for
 * an unknown view only to an identity that reads every view), else the first readable default.
 */
export function pickShownView(
  deps: Pick<ConsoleDeps, 'config' | 'runtime'>,
  who: Identity,
  asked: string | undefined,
): { view: string; views: string[] } {
  const views = shownViews(deps, who);
  if (deps.config.auth.packageRead !== 'token') return { view: pickView(views, asked), views };
  const refuse = (view: string, reads: string) =>
    errors.readNotGranted(
      `${who.name} may not read the packages of view "${view.slice(0, 100)}" (it reads: ${reads}); ${readGrantHint(deps, who, view)}`,
      view,
    );
  if (asked !== undefined && !canRead(who, asked)) throw refuse(asked, views.join(', ') || 'no view');
  if (!views.length) throw refuse(asked ?? 'default', 'no view');
  return { view: pickView(views, asked), views };
}
