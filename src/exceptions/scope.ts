// Which exceptions an identity is shown, decided once per request from its roles and grants.
// With auth.packageRead token an exception tells what a view allows and why (its triage), so it
// is shown as that view's packages are: to those who read the view or approve for it, and to its
// requester always; auditors and admins see every one. With anonymous package reads every view
// is open to anyone, and so are its exceptions to every exception role. It must never show an
// exception no read grant, approver view or authorship gives; a global ('*') exception only to
// an identity that reads or approves every view.
import type { Config } from '../config/schema.js';
import { canRead, type Identity } from '../auth/identity.js';
import { errors } from '../errors.js';

type PackageReadMode = Config['auth']['packageRead'];

/** Every exception, or the views whose exceptions are shown plus the requester whose own always are. */
export type ExceptionScope = 'all' | { readonly oid: string; readonly views: ReadonlySet<string> };

/** Jobs and tests that act for the system, not for a caller: they see every exception. */
export const SYSTEM = 'system' as const;
export type ExceptionViewer = Identity | typeof SYSTEM;

export function exceptionScope(viewer: ExceptionViewer, packageRead: PackageReadMode): ExceptionScope {
  if (viewer === SYSTEM || packageRead !== 'token') return 'all';
  if (viewer.roles.has('admin') || viewer.roles.has('auditor')) return 'all';
  const approves = viewer.roles.has('approver') ? viewer.approverViews : new Set<string>();
  if (viewer.readViews === '*' || approves === '*') return 'all';
  return { oid: viewer.oid, views: new Set([...viewer.readViews, ...approves]) };
}

/** The views whose demand counts (refused reads) a scope shows: those whose exceptions it shows. */
export function demandViews(scope: ExceptionScope): 'all' | ReadonlySet<string> {
  return scope === 'all' ? 'all' : scope.views;
}

/** Whether this scope shows exceptions of this view (its own requests aside). */
export function showsView(scope: ExceptionScope, view: string): boolean {
  return scope === 'all' || scope.views.has(view);
}

export function shows(scope: ExceptionScope, e: { view: string; requestedBy: string }): boolean {
  return showsView(scope, e.view) || (scope !== 'all' && e.requestedBy === scope.oid);
}

/**
 * Refuses (403) a request for a view whose packages the requester may not read, naming what it
 * reads; a global ('*') request needs every view. Checked before "no such view", so that an
 * unknown view says no more than one it may not read.
 */
export function requireRequestable(who: Identity, view: string, packageRead: PackageReadMode): void {
  if (packageRead !== 'token' || canRead(who, view)) return;
  const reads = who.readViews === '*' ? 'every view' : [...who.readViews].join(', ') || 'no view';
  const what = view === '*' ? 'a global exception ("*") needs read of every view' : `${who.name} may not read the packages of view "${view}"`;
  throw errors.readNotGranted(
    `${what} (it reads: ${reads}); request it for a view you read, or ask a Safelist administrator for read of ${view === '*' ? 'every view' : view}`,
    view,
  );
}
