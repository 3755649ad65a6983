// The roles of a console session, derived on every request from what its sign-in showed (the
// static token's hash, or the ID token's app-role and group claims) and the configuration as it
// is now: a static token withdrawn ends its sessions, a role removed from a token, a grant or the
// role prefix is gone on the next request. It must never return roles the current configuration
// does not give, never sign anyone in by a method that is no longer configured, and never admit
// an identity with no role and no view to read (consoleRefusal).
import { readViewsOf, rolesFromClaims, type Authenticator, type Identity, type Role } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import type { IdentityResolver, StoredIdentity } from './session.js';

type Oidc = NonNullable<Config['auth']['console']['oidc']>;

/**
 * The roles and approver views of an OpenID Connect sign-in: its app roles, plus the grants to its
 * oid or groups. Its read views are its Reader app roles' alone (roleGrants grant no package reads:
 * packages are read with tokens, never with a console session).
 */
export function oidcRoles(
  o: Oidc,
  oid: string,
  roleClaims: readonly string[],
  groups: readonly string[],
): Pick<Identity, 'roles' | 'approverViews' | 'readViews'> {
  const fromClaims = rolesFromClaims(roleClaims, o.rolePrefix);
  const roles = new Set<Role>(fromClaims.roles);
  let views: Set<string> | '*' = fromClaims.approverViews;
  for (const g of o.roleGrants) {
    if (g.user ? g.user !== oid : !groups.includes(g.group!)) continue;
    for (const r of g.roles) roles.add(r);
    if (g.roles.includes('approver')) {
      if (g.views.includes('*')) views = '*';
      else if (views !== '*') for (const v of g.views) views.add(v);
    }
  }
  return { roles, approverViews: roles.has('admin') ? '*' : views, readViews: readViewsOf(roles, fromClaims.readGrant, 'none') };
}

/**
 * Why this identity may not use the console, saying what to ask for; undefined when it may. The
 * console is for identities with a Safelist role; one without any role that reads some view's
 * packages (a reader) may use it too, and sees those views' packages and policy only (what its
 * token reads through the API), can request nothing (that is the requester role) and decides
 * nothing. One with neither is refused, as Artifactory and Harbor refuse a user with no permission.
 */
export function consoleRefusal(config: Config, who: Identity): string | undefined {
  if (who.roles.size > 0 || who.readViews === '*' || who.readViews.size > 0) return undefined;
  const prefix = config.auth.console.oidc?.rolePrefix;
  if (who.via === 'entra' && prefix !== undefined)
    return `${who.name} has no Safelist role: ask a Safelist administrator for one of the Entra app roles ${prefix}Requester (to request exceptions), ${prefix}Approver.<view>, ${prefix}Auditor or ${prefix}Admin, or ${prefix}Reader.<view> to see a view's packages`;
  return `the token ${who.oid} has no Safelist role and reads no view: ask a Safelist administrator to give it roles (requester to request exceptions, approver, auditor, admin) or read: [<view>] to see a view's packages, in auth.tokens`;
}

export function sessionIdentityResolver(config: Config, auth: Authenticator): IdentityResolver {
  const resolve = (s: StoredIdentity): Identity | undefined => {
    if (s.source.kind === 'static') {
      const who = auth.staticIdentityOf(s.source.tokenSha256);
      // The token now belongs to someone else (its id changed): not this session's identity.
      return who && who.oid === s.oid ? who : undefined;
    }
    const o = config.auth.console.oidc;
    if (!o) return undefined;
    return { oid: s.oid, name: s.name, via: 'entra', ...oidcRoles(o, s.oid, s.source.roles, s.source.groups) };
  };
  // Every role and grant taken away since sign-in: the session ends, as if the token were withdrawn.
  return (s) => {
    const who = resolve(s);
    return who && !consoleRefusal(config, who) ? who : undefined;
  };
}
