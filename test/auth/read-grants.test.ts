// Which views' packages an identity reads: static tokens' `read`, Entra's Safelist.Reader.<view>
// app roles, admins, and what a token with no grant gets (auth.unscopedRead, set or implied by
// the configuration), with the start-up warning that names the tokens reading every view only
// for compatibility. Configurations are parsed by the real schema.
import { describe, expect, it } from 'vitest';
import { Authenticator, canRead, rolesFromClaims, type Identity } from '../../src/auth/identity.js';
import { requireRead } from '../../src/auth/guard.js';
import { SafelistError } from '../../src/errors.js';
import { configSchema } from '../../src/ecosystems/index.js';
import type { Config } from '../../src/config/schema.js';

const T = (n: number) => `read-grant-token-${n}-0123456789`;

function parse(auth: Record<string, unknown>, views: Record<string, object> = { 'team-a': {}, 'team-b': {} }) {
  return configSchema.safeParse({ views, auth });
}

function config(auth: Record<string, unknown>): Config {
  const r = parse(auth);
  if (!r.success) throw new Error(r.error.message);
  return r.data;
}

const reads = (who: Identity) => (who.readViews === '*' ? '*' : [...who.readViews].sort());

describe('read grants of static tokens', () => {
  it('reads the views of `read`, every view with * or as an admin, and refuses the rest with a 403 naming the view', async () => {
    const auth = new Authenticator(
      config({
        packageRead: 'token',
        tokens: [
          { id: 'ws-team-a', token: T(1), read: ['team-a'] },
          { id: 'ws-all', token: T(2), read: ['*'] },
          { id: 'boss', token: T(3), roles: ['admin'] },
          { id: 'ci-bot', token: T(4), roles: ['requester'] },
          { id: 'nothing', token: T(5), roles: ['pipeline'], read: [] },
        ],
      }).auth,
    );
    expect(auth.unscopedRead).toBe('none');
    expect(reads(await auth.fromToken(T(1)))).toEqual(['team-a']);
    expect(reads(await auth.fromToken(T(2)))).toBe('*');
    expect(reads(await auth.fromToken(T(3)))).toBe('*');
    // A configuration that states read grants fails closed for a token without one.
    expect(reads(await auth.fromToken(T(4)))).toEqual([]);
    expect(reads(await auth.fromToken(T(5)))).toEqual([]);
    const teamA = await auth.fromToken(T(1));
    expect(canRead(teamA, 'team-a')).toBe(true);
    expect(canRead(teamA, 'team-b')).toBe(false);
    expect(canRead(teamA, 'default')).toBe(false);
    expect(() => requireRead(auth, teamA, 'team-a')).not.toThrow();
    let refusal: unknown;
    try {
      requireRead(auth, teamA, 'team-b');
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(SafelistError);
    expect(refusal).toMatchObject({ status: 403, code: 'READ_NOT_GRANTED', extra: { view: 'team-b' } });
    expect((refusal as Error).message).toBe(
      'ws-team-a may not read the packages of view "team-b" (it reads: team-a); ask a Safelist administrator to add team-b to read: of token ws-team-a in auth.tokens',
    );
    expect(auth.readGrantWarnings()).toEqual([]);
  });

  it('keeps every token reading every view while no token states read (an older configuration), and says so at start', async () => {
    const auth = new Authenticator(
      config({
        packageRead: 'token',
        tokens: [
          { id: 'ws-team-a', token: T(1), roles: ['pipeline'] },
          { id: 'boss', token: T(3), roles: ['admin'] },
        ],
      }).auth,
    );
    expect(auth.unscopedRead).toBe('all');
    expect(reads(await auth.fromToken(T(1)))).toBe('*');
    const [warning, ...more] = auth.readGrantWarnings();
    expect(more).toEqual([]);
    // Names the token that reads everything only for compatibility (not the admin), and the way out.
    expect(warning).toMatch(/the tokens ws-team-a of auth\.tokens read every view's packages/);
    expect(warning).not.toMatch(/boss/);
    expect(warning).toMatch(/read: \['\*'\]/);
    expect(warning).toMatch(/auth\.unscopedRead: none/);
  });

  it('lets auth.unscopedRead decide over what the configuration implies', async () => {
    const closed = new Authenticator(config({ unscopedRead: 'none', tokens: [{ id: 'old', token: T(1), roles: ['pipeline'] }] }).auth);
    expect(reads(await closed.fromToken(T(1)))).toEqual([]);
    expect(closed.readGrantWarnings()).toEqual([]);
    const open = new Authenticator(
      config({
        unscopedRead: 'all',
        tokens: [
          { id: 'old', token: T(1), roles: ['pipeline'] },
          { id: 'new', token: T(2), read: ['team-b'] },
        ],
      }).auth,
    );
    expect(reads(await open.fromToken(T(1)))).toBe('*');
    expect(reads(await open.fromToken(T(2)))).toEqual(['team-b']);
    expect(open.readGrantWarnings()).toEqual([expect.stringMatching(/the tokens old of auth\.tokens .*because auth\.unscopedRead is all/)]);
  });
});

describe('read grants in the configuration', () => {
  it('refuses a read grant of a view that is not configured, naming the key', () => {
    const r = parse({ tokens: [{ id: 'ws', token: T(1), read: ['team-c'] }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues).toEqual([
      expect.objectContaining({
        path: ['auth', 'tokens', 0, 'read'],
        message: 'view "team-c" is not configured (views: default, team-a, team-b)',
      }),
    ]);
    expect(parse({ tokens: [{ id: 'ws', token: T(1), read: ['default', 'team-a', '*'] }] }).success).toBe(true);
    expect(parse({ tokens: [{ id: 'ws', token: T(1), read: ['Team A'] }] }).success).toBe(false);
  });

  it('takes a token that only reads (no roles), but not one with neither roles nor read', () => {
    expect(parse({ tokens: [{ id: 'ws', token: T(1), read: ['team-a'] }] }).success).toBe(true);
    const r = parse({ tokens: [{ id: 'ws', token: T(1) }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toMatch(/roles, read .* or both/);
  });
});

describe('read grants of Entra app roles', () => {
  it('reads Safelist.Reader.<view> views, every view with Safelist.Reader alone, and states no grant without one', () => {
    expect(rolesFromClaims(['Safelist.Reader.team-a', 'Safelist.Reader.team-b', 'Safelist.Requester'], 'Safelist.')).toMatchObject({
      roles: new Set(['requester']),
      readGrant: new Set(['team-a', 'team-b']),
    });
    expect(rolesFromClaims(['Safelist.Reader.team-a', 'Safelist.Reader'], 'Safelist.').readGrant).toBe('*');
    expect(rolesFromClaims(['Safelist.Reader.*'], 'Safelist.').readGrant).toBe('*');
    // A reader grant is not a role: it opens no API route.
    expect(rolesFromClaims(['Safelist.Reader.team-a'], 'Safelist.').roles.size).toBe(0);
    expect(
      rolesFromClaims(['Safelist.Requester', 'Other.Reader.team-a', 'Safelist.Readers.team-a'], 'Safelist.').readGrant,
    ).toBeUndefined();
  });
});
