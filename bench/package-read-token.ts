// Benchmark of the package-read token check (auth.packageRead: token) as the read paths' hook
// runs it: who the bearer token is (packageReader) and whether it reads the URL's view
// (requireRead). Compares, in one run and one process, an Entra access token verified on every
// request (the cache off: what every package request paid before) with the same token remembered
// after its first verification (the cache on), and a static token of auth.tokens as the floor.
// Keys come from the local JWKS stub the tests use (test/support/entra.ts), fetched over HTTP once.
// Prints CPU µs per check (process.cpuUsage: user + system, steadier than wall time on a shared
// machine) and wall µs, each the median of --rounds alternated runs, and the ratios.
//
//   npx tsx bench/package-read-token.ts [--checks 20000] [--rounds 5]
import { parseArgs } from 'node:util';
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
const uncached = new Authenticator(config.auth, { verifiedTokens: 0 });
const jwt = await entra.token({ oid: 'oid-ws-a', name: 'Workspace A', roles: ['Safelist.Reader.team-a'] }, { expiresIn: '2h' });

interface Scenario {
  name: string;
  auth: Authenticator;
  header: string;
  /** Checks per round (the uncached one is ~100x slower: fewer, still a second or more). */
  checks: number;
}
const scenarios: Scenario[] = [
  { name: 'Entra token, verified every time (before)', auth: uncached, header: `Bearer ${jwt}`, checks: Math.ceil(CHECKS / 20) },
  { name: 'Entra token, remembered (after)', auth: cached, header: `Bearer ${jwt}`, checks: CHECKS },
  { name: 'static token (floor)', auth: cached, header: `Bearer ${STATIC}`, checks: CHECKS },
];

async function run(s: Scenario, checks: number): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < checks; i++) {
    const who = await packageReader(s.auth, undefined, s.header, '');
    requireRead(s.auth, who, 'team-a');
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
