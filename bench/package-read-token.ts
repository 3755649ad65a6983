// Benchmark of the package-read token check (auth.packageRead: token) as the read paths' hook
// runs it: who the bearer token is (packageReader) and whether it reads the URL's view
// (requireRead). Compares, in one run and one process, an Entra access token verified on every
// request (the cache off: what every package request paid before) with the same token remembered
// after its first verification (the cache on), and a static token of auth.tokens as the floor;
// then refused tokens: a forged one (a signature by another key) replayed, refused in full every
// time (the refusal cache off: before) and remembered (after); new forged tokens each time (no
// cache helps: a signature check each), and new ones whose unverified claims condemn them (another
// audience, expired), refused before any signature check.
// Keys come from the local JWKS stub the tests use (test/support/entra.ts), fetched over HTTP once.
// Prints CPU µs per check (process.cpuUsage: user + system, steadier than wall time on a shared
// machine) and wall µs, each the median of --rounds alternated runs, and the ratios.
//
//   npx tsx bench/package-read-token.ts [--checks 20000] [--rounds 5]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SafelistError } from '../src/errors.js';
import { packageReader, requireRead } from '../src/auth/guard.js';
import { Authenticator } from '../src/auth/identity.js';
import { configSchema } from '../src/ecosystems/index.js';
import { startEntraStub } from '../test/support/entra.js';

const { values: args } = parseArgs({
  options: {
    checks: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
  },
});
const CHECKS = Number(args.checks);
const ROUNDS = Math.max(1, Number(args.rounds));
const STATIC = 'bench-static-token-0123456789';

const entra = await startEntraStub();
const config = configSchema.parse({
  views: { 'team-a': {} },
  auth: {
    packageRead: 'token',
    entra: { tenantId: entra.tenantId, audience: entra.audience, jwksUri: entra.jwksUri },
    tokens: [{ id: 'ws-team-a', token: STATIC, read: ['team-a'] }],
  },
});
const cached = new Authenticator(config.auth);
const uncached = new Authenticator(config.auth, { verifiedTokens: 0, rejectedTokens: 0 });
const claims = { oid: 'oid-ws-a', name: 'Workspace A', roles: ['Safelist.Reader.team-a'] };
const jwt = await entra.token(claims, { expiresIn: '2h' });
const forged = await entra.token(claims, { expiresIn: '2h', foreignKey: true });

/**
 * `n` different forged tokens shaped as Entra's (the stub's kid, RS256, a 2048-bit signature's
 * length of random bytes), with `override` claims: what an attacker sends without any key.
 */
function forgeries(n: number, override: Record<string, unknown>): string[] {
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const header = b64({ alg: 'RS256', kid: 'test-key-1', typ: 'JWT' });
  const exp = Math.floor(Date.now() / 1000) + 7200;
  const base = { ...claims, tid: entra.tenantId, iss: entra.issuerV2, aud: entra.audience, exp, ver: '2.0' };
  return Array.from({ length: n }, (_, i) => {
    const payload = b64({ ...base, jti: `forged-${i}`, ...override });
    return `${header}.${payload}.${randomBytes(256).toString('base64url')}`;
  });
}

interface Scenario {
  name: string;
  auth: Authenticator;
  /** One header for every check, or a different one each check. */
  header: string | string[];
  /** Checks per round (the uncached one is ~100x slower: fewer, still a second or more). */
  checks: number;
}
const scenarios: Scenario[] = [
  { name: 'Entra token, verified every time (before)', auth: uncached, header: `Bearer ${jwt}`, checks: Math.ceil(CHECKS / 20) },
  { name: 'Entra token, remembered (after)', auth: cached, header: `Bearer ${jwt}`, checks: CHECKS },
  { name: 'static token (floor)', auth: cached, header: `Bearer ${STATIC}`, checks: CHECKS },
  { name: 'forged, replayed, checked every time (before)', auth: uncached, header: `Bearer ${forged}`, checks: Math.ceil(CHECKS / 20) },
  { name: 'forged, replayed, refusal remembered (after)', auth: cached, header: `Bearer ${forged}`, checks: CHECKS },
];
// New tokens every check (a fresh set per round, so no refusal is remembered from a round before).
const unique = (name: string, override: Record<string, unknown>, checks: number): Scenario & { fresh: () => string[] } => ({
  name,
  auth: cached,
  header: [],
  checks,
  fresh: () => forgeries(checks, override).map((t) => `Bearer ${t}`),
});
const freshScenarios: Array<Scenario & { fresh: () => string[] }> = [
  unique('forged, new each time, claims right (sig check)', {}, Math.ceil(CHECKS / 20)),
  unique('forged, new each time, another audience', { aud: 'api://another-app' }, CHECKS),
  unique('forged, new each time, expired', { exp: Math.floor(Date.now() / 1000) - 3600 }, CHECKS),
];
scenarios.push(...freshScenarios);

async function run(s: Scenario & { fresh?: () => string[] }, checks: number): Promise<{ cpuUs: number; wallUs: number }> {
  const headers = s.fresh ? s.fresh().slice(0, checks) : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < checks; i++) {
    const header = headers ? headers[i]! : (s.header as string);
    try {
      const who = await packageReader(s.auth, undefined, header, '');
      requireRead(s.auth, who, 'team-a');
    } catch (err) {
      // The forged scenarios' 401 is the point; any other outcome would make the figures meaningless.
      if (!(err instanceof SafelistError) || err.status !== 401 || !s.name.startsWith('forged')) throw err;
    }
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / checks, wallUs: (wall * 1000) / checks };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Warm-up: JIT, the JWKS fetch, the first verification (the one the cache keeps).
for (const s of scenarios) await run(s, Math.min(s.checks, 500));
const results = new Map<string, { cpu: number[]; wall: number[] }>(scenarios.map((s) => [s.name, { cpu: [], wall: [] }]));
for (let r = 0; r < ROUNDS; r++)
  for (const s of scenarios) {
    const { cpuUs, wallUs } = await run(s, s.checks);
    results.get(s.name)!.cpu.push(cpuUs);
    results.get(s.name)!.wall.push(wallUs);
  }
await entra.stop();

const row = (name: string) => {
  const x = results.get(name)!;
  return { cpu: median(x.cpu), wall: median(x.wall) };
};
console.log(`package-read token check, median of ${ROUNDS} rounds (${CHECKS} checks; ${Math.ceil(CHECKS / 20)} uncached)`);
for (const s of scenarios) {
  const { cpu, wall } = row(s.name);
  console.log(`  ${s.name.padEnd(44)} ${cpu.toFixed(2).padStart(8)} µs CPU  ${wall.toFixed(2).padStart(8)} µs wall`);
}
const before = row(scenarios[0]!.name);
const after = row(scenarios[1]!.name);
const floor = row(scenarios[2]!.name);
console.log(
  `  before / after (CPU): ${(before.cpu / after.cpu).toFixed(1)}x; after / static floor (CPU): ${(after.cpu / floor.cpu).toFixed(2)}x`,
);
const forgedBefore = row(scenarios[3]!.name);
const forgedAfter = row(scenarios[4]!.name);
const sigCheck = row(freshScenarios[0]!.name);
const audience = row(freshScenarios[1]!.name);
const expired = row(freshScenarios[2]!.name);
console.log(
  `  forged replayed, before / after (CPU): ${(forgedBefore.cpu / forgedAfter.cpu).toFixed(1)}x; ` +
    `new forged: signature check / refused by claims (CPU): ${(sigCheck.cpu / audience.cpu).toFixed(1)}x (audience), ${(sigCheck.cpu / expired.cpu).toFixed(1)}x (expired)`,
);
