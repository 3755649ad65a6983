// A local stand-in for Microsoft Entra ID's token signing: an RSA key pair, its JWKS served
// over HTTP (what Safelist fetches, as from login.microsoftonline.com/{tid}/discovery/v2.0/keys),
// and a signer for access tokens shaped like Entra's v2 tokens (iss, aud, tid, oid, roles, exp).
// The JWKS server can be stopped and started again on the same port (an Entra outage), and its
// key rotated (a new key published in place of the old one, as Entra does).
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface EntraStub {
  tenantId: string;
  audience: string;
  jwksUri: string;
  issuerV2: string;
  /** Signs a token; override any claim, or sign with a key the JWKS does not publish. */
  token(
    claims: { oid: string; roles?: string[]; name?: string } & Record<string, unknown>,
    opts?: { expiresIn?: string | number; foreignKey?: boolean; kid?: string },
  ): Promise<string>;
  /** How many times the JWKS document was fetched. */
  readonly keysFetched: number;
  /** Publishes a new signing key in place of the old one: tokens signed before no longer verify. */
  rotate(): Promise<void>;
  /** Stops answering (connections cut, port closed) until up(). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEntraStub(): Promise<EntraStub> {
  const tenantId = randomUUID();
  const audience = 'api://safelist-test';
  let { privateKey, publicKey } = await generateKeyPair('RS256');
  let kid = 'test-key-1';
  const foreign = await generateKeyPair('RS256');
  let jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  let keysFetched = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/keys') {
      keysFetched++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  const issuerV2 = `https://login.microsoftonline.com/${tenantId}/v2.0`;
  return {
    tenantId,
    audience,
    jwksUri: `http://127.0.0.1:${port}/keys`,
    issuerV2,
    get keysFetched() {
      return keysFetched;
    },
    async token(claims, opts = {}) {
      const { iss, aud, exp, ...rest } = claims as Record<string, unknown>;
      let jwt = new SignJWT({ tid: tenantId, ver: '2.0', ...rest })
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? kid, typ: 'JWT' })
        .setIssuer((iss as string) ?? issuerV2)
        .setAudience((aud as string) ?? audience)
        .setIssuedAt();
      jwt = typeof exp === 'number' ? jwt.setExpirationTime(exp) : jwt.setExpirationTime(opts.expiresIn ?? '1h');
      return jwt.sign(opts.foreignKey ? foreign.privateKey : privateKey);
    },
    async rotate() {
      ({ privateKey, publicKey } = await generateKeyPair('RS256'));
      kid = `test-key-${Number(kid.slice('test-key-'.length)) + 1}`;
      jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
    },
    down: close,
    up: () =>
      new Promise<void>((r, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          r();
        });
      }),
    stop: () => (server.listening ? close() : Promise.resolve()),
  };
}
