// The console's configuration and the small decisions taken from it: an OpenID sign-in needs an
// issuer (its own, or auth.entra's tenant) and a redirect URI (its own, or server.publicUrl's);
// the cookie is Secure except for a public URL of http://127.0.0.1; after sign-in only a console
// path may follow (no open redirect).
import { describe, expect, it } from 'vitest';
import { cookieIsSecure, sessionCookieName } from '../../src/console/app.js';
import { ConsoleOidc } from '../../src/console/oidc.js';
import { safeNext } from '../../src/console/pages/sign-in.js';
import { configSchema } from '../../src/ecosystems/index.js';

const TENANT = '11111111-2222-3333-4444-555555555555';

describe('console configuration', () => {
  it('needs an issuer for OpenID sign-in, its own or auth.entra’s', () => {
    const bare = configSchema.safeParse({ auth: { console: { oidc: { clientId: 'app' } } } });
    expect(bare.success).toBe(false);
    expect(JSON.stringify(bare.error!.issues)).toContain('auth.console.oidc needs an issuer');
    const viaEntra = configSchema.parse({
      server: { publicUrl: 'https://safelist.example.com' },
      auth: { entra: { tenantId: TENANT, audience: 'api://safelist' }, console: { oidc: { clientId: 'app' } } },
    });
    const oidc = ConsoleOidc.fromConfig(viaEntra)!;
    expect(oidc.redirectUri).toBe('https://safelist.example.com/ui/auth/callback');
    expect(ConsoleOidc.fromConfig(configSchema.parse({}))).toBeUndefined();
  });

  it('refuses to start an OpenID sign-in with no redirect URI and no public URL', () => {
    const config = configSchema.parse({ auth: { console: { oidc: { clientId: 'app', issuer: 'https://login.example.com/' } } } });
    expect(() => ConsoleOidc.fromConfig(config)).toThrow(/needs redirectUri, or server.publicUrl/);
  });

  it('keeps the cookie Secure except for a console at http://127.0.0.1', () => {
    expect(cookieIsSecure(undefined)).toBe(true);
    expect(cookieIsSecure('https://safelist.example.com')).toBe(true);
    expect(cookieIsSecure('http://safelist.internal:8080')).toBe(true);
    expect(cookieIsSecure('http://localhost:8080')).toBe(true);
    expect(cookieIsSecure('http://127.0.0.1:8080')).toBe(false);
    expect(sessionCookieName(true)).toBe('__Host-safelist-console');
  });

  it('follows sign-in only to console paths', () => {
    expect(safeNext('/ui/queue?scope=all')).toBe('/ui/queue?scope=all');
    expect(safeNext('/ui')).toBe('/ui');
    for (const bad of ['//evil.example/ui/', 'https://evil.example/ui/', '/ui/\\evil', '/api/v1/exceptions', '/uievil', undefined, 42])
      expect(safeNext(bad)).toBe('/ui/');
  });
});
