// Property-based robustness of the whole HTTP surface: fast-check generates requests over every
// route fastify has registered (read from its route table, so a new route is covered without
// editing this file) and every prefix the server rewrites or strips (/t/<token>/ for conda,
// /v2/views/<view>/ for OCI), with arbitrary methods, percent-encodings (invalid, overlong
// UTF-8, %00, surrogates, ../ and %2e%2e), headers and bodies (JSON-ish and raw bytes). They go
// over a real socket as raw bytes, so what no client would send still reaches the server. The
// properties: no answer is a 5xx, the server stays up (/healthz answers), nothing outside the
// blob store is ever served (a canary file planted next to the store never appears), and a
// token that reads one view (read: [team-a]) never gets a 2xx from another view's read path.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCondaDir } from '../../src/ecosystems/conda/importer.js';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { buildCondaPackage } from '../support/conda-channel.js';
import { DB_MODES } from '../support/databases.js';
import { sendRaw, type RawAnswer } from '../support/raw-http.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedConda } from '../../src/ecosystems/conda/module.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

/** Two identities holding every role (two, so one can approve what the other requested). */
const TOKENS = ['fuzz-alice-token-0123456789abcdef', 'fuzz-bob-token-0123456789abcdefgh'];
/** A workspace's token: reads the packages of team-a and nothing else. */
const TEAM_A_TOKEN = 'fuzz-carol-token-0123456789abcdefg';
const ACR_SECRET = 'fuzz-acr-shared-secret-0123456789';
const CANARY = `safelist-canary-${randomBytes(12).toString('hex')}`;
/** Cases per database mode: a few thousand requests in all, seconds on a quiet machine. */
const RUNS = 1500;
/** Fixed, so the suite is repeatable; FUZZ_SEED=<n> replays a reported run, FUZZ_SEED=random explores. */
const SEED = process.env.FUZZ_SEED === 'random' ? undefined : Number(process.env.FUZZ_SEED ?? 20261130);

interface RouteEntry {
  url: string;
  methods: string[];
}

/**
 * The routes of fastify's route table, from `printRoutes({ commonPrefix: false })`: one line
 * per node, four columns of tree drawing per level, each node's text appended to its parent's.
 */
function routeTable(printed: string): RouteEntry[] {
  const routes: RouteEntry[] = [];
  const stack: string[] = [];
  for (const line of printed.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const url = (stack[depth - 1] ?? '') + m[2]!;
    stack.push(url);
    if (m[3]) routes.push({ url, methods: m[3].split(', ') });
  }
  return routes;
}

// ---- hostile material ------------------------------------------------------------------
// Each request starts as one its route would accept (its method, a token with every role,
// the right content type, a well-formed body); then some of its parts are replaced by
// hostile ones, so the hostile part is what the server has left to get wrong.

/** Path and query fragments: invalid escapes, overlong UTF-8, NUL, surrogates, climbs, raw bytes. */
const NASTY = [
  '%',
  '%2',
  '%zz',
  '%G0',
  '%%',
  '%%32%65',
  '%u002e',
  '%00',
  '%0a',
  '%0d%0a',
  '%09',
  '%7f',
  '%ff',
  '%fe%ff',
  '%c0%80',
  '%c0%ae',
  '%c0%af',
  '%c1%9c',
  '%e0%80%ae',
  '%f0%80%80%ae',
  '%ed%a0%80',
  '%ed%b0%80',
  '%ed%a0%80%ed%b0%80',
  '%f4%90%80%80',
  '%f8%88%80%80%80',
  '%2e',
  '%2e%2e',
  '%2E%2E%2F',
  '.',
  '..',
  '../',
  '..%2f',
  '..%5c',
  '%2f',
  '%5c',
  '\\',
  '//',
  ';',
  '%3b',
  '%23',
  '%25',
  '%3f',
  '~',
  '*',
  '@',
  ':',
  '%3a',
  'é',
  '%C3%A9',
  '💥',
  '%F0%9F%92%A5',
  'con',
  'nul',
  '.git',
  '.env',
  'a'.repeat(301),
  '%41'.repeat(200),
  '__proto__',
  'constructor',
  'prototype',
  'EXC-0',
  'EXC-999999999999',
  'sha256:',
  'sha256:zz',
];

/** Ways of climbing out of a folder, each ending at the canary planted beside the store. */
const CLIMB = [
  '../',
  '..%2f',
  '..%2F',
  '%2e%2e/',
  '%2e%2e%2f',
  '%2E%2E%2F',
  '..\\',
  '..%5c',
  '%c0%ae%c0%ae/',
  '....//',
  '.%2e/',
  '%2e./',
  '..;/',
  '%252e%252e%252f',
];
const traversal = fc
  .tuple(
    fc.constantFrom(...CLIMB),
    fc.integer({ min: 1, max: 8 }),
    fc.constantFrom('canary.txt', 'blobs/../canary.txt', 'etc/passwd', '/etc/passwd'),
  )
  .map(([up, n, target]) => up.repeat(n) + target);

/** Percent-encodes every byte of a string's UTF-8. */
const encodeAll = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: traversal },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(encodeAll) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...NASTY), { minLength: 2, maxLength: 4 }).map((p) => p.join('')) },
);

/** JSON strings a database cannot hold, long enough to pass length checks, and other oddities. */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('\u0000', '\ud800', '\udc00', '\ud83d', '\u0000\ud800').map((c) => `a perfectly good reason ${c} otherwise`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('\u0000', '\ud800', '\uffff', '', ' '.repeat(20), 'x'.repeat(5000), '../../canary.txt', '%00', 'EXC-1'),
  },
);

const jsonValueArb = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.string({ maxLength: 10 }),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(
    fc.oneof(hostileString, fc.constantFrom('reason', 'note', 'events', 'id', 'action', 'target', 'Results', 'Vulnerabilities')),
    tie('value'),
    { maxKeys: 5 },
  ),
})).value;

/** `good` most of the time, `hostile` `percent`% of the time. */
function mostly<T>(good: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T> {
  return fc.oneof({ weight: 100 - percent, arbitrary: good }, { weight: percent, arbitrary: hostile });
}

/** Replaces the n-th string leaf (modulo their number) of a JSON value. */
function replaceLeaf(v: unknown, n: number, s: string): unknown {
  const leaves: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach((y, i) => (typeof y === 'string' ? leaves.push([x, i]) : walk(y)));
    else if (x && typeof x === 'object')
      for (const [k, y] of Object.entries(x)) {
        if (typeof y === 'string') leaves.push([x as Record<string, unknown>, k]);
        else walk(y);
      }
  };
  const copy = JSON.parse(JSON.stringify(v)) as unknown;
  walk(copy);
  if (!leaves.length) return copy;
  const [holder, key] = leaves[n % leaves.length]!;
  (holder as Record<string | number, unknown>)[key] = s;
  return copy;
}

// ---- requests -----------------------------------------------------------------------------

interface World {
  routes: RouteEntry[];
  goodParams: Record<string, string[]>;
  goodWildcards: string[];
  digest: string;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DISTRIBUTION = 'application/vnd.docker.distribution.events.v1+json';

/** A body the route would accept (values from real-looking sets), and its content type. */
function goodBody(route: RouteEntry, digest: string): fc.Arbitrary<{ type: string; body: unknown }> {
  const word = (...xs: string[]) => fc.constantFrom(...xs);
  const push = fc.record({
    id: fc.integer({ min: 1, max: 50 }).map((i) => `evt-${i}`),
    action: word('push'),
    target: fc.record({ mediaType: word(MANIFEST), digest: word(digest), repository: word('app', 'team/app'), tag: word('1', 'latest') }),
    request: fc.record({ host: word('registry.test:5000') }),
  });
  const u = route.url;
  const json = (b: fc.Arbitrary<unknown>, type = 'application/json') => b.map((body) => ({ type, body }));
  if (u.endsWith('/exceptions')) {
    return json(
      fc.record({
        ecosystem: word('pypi', 'conda', 'oci'),
        name: word('numpy', 'demo-pkg', 'requests'),
        versions: word('', '==1.0', '>=1,<2'),
        view: word('team-a', 'default', '*'),
        reason: word('needed for the demand forecast model', 'the training pipeline imports it'),
      }),
    );
  }
  if (/approve|reject|revoke/.test(u)) return json(fc.record({ note: word('looks fine to me', 'not this one') }, { requiredKeys: [] }));
  if (u.endsWith('/distribution')) return json(fc.record({ events: fc.array(push, { minLength: 1, maxLength: 3 }) }), DISTRIBUTION);
  if (u.endsWith('/acr')) return json(push);
  if (u.endsWith('/eventgrid'))
    return json(
      fc.array(fc.record({ id: word('eg-1', 'eg-2'), eventType: word('Microsoft.ContainerRegistry.ImagePushed'), data: push }), {
        minLength: 1,
        maxLength: 2,
      }),
    );
  if (/reports/.test(u)) {
    const vuln = fc.record({
      VulnerabilityID: word('CVE-2024-0001', 'GHSA-xxxx-yyyy'),
      PkgName: word('openssl', 'zlib'),
      InstalledVersion: word('3.0.0'),
      FixedVersion: word('3.0.1', ''),
      Severity: word('CRITICAL', 'LOW', 'UNKNOWN'),
      Title: word('a flaw'),
    });
    return json(
      fc.record({
        SchemaVersion: fc.constant(2),
        ArtifactName: word(`registry.test:5000/app@${digest}`),
        Results: fc.array(fc.record({ Target: word('app (debian 12)'), Vulnerabilities: fc.array(vuln, { maxLength: 3 }) }), {
          maxLength: 2,
        }),
      }),
    );
  }
  return fc.constant({ type: '', body: undefined });
}

function bodyArb(route: RouteEntry, digest: string): fc.Arbitrary<{ type: string; body: Buffer }> {
  const encode = ({ type, body }: { type: string; body: unknown }) => ({
    type,
    body: body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body)),
  });
  const good = goodBody(route, digest);
  // One string of a good body made hostile: the likeliest way past validation to the database.
  const oneBadField = fc
    .tuple(good, fc.nat(), hostileString)
    .map(([g, n, s]) => ({ type: g.type || 'application/json', body: replaceLeaf(g.body ?? { note: '' }, n, s) }));
  const anything = fc
    .tuple(
      good,
      fc.oneof(
        jsonValueArb.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        fc
          .constantFrom(
            '{',
            '{"note":',
            '[[[[',
            '{"a":1}{"b":2}',
            '\ufeff{}',
            '{"__proto__":{"x":1}}',
            '{"constructor":{"prototype":{"x":1}}}',
            `${'['.repeat(20000)}${']'.repeat(20000)}`,
            '{"reason":"\\ud800 is lone"}',
            '{"note":"nul \\u0000 here"}',
          )
          .map((x) => Buffer.from(x)),
      ),
    )
    .map(([g, body]) => ({ type: g.type || 'application/json', body }));
  return fc.oneof(
    { weight: 5, arbitrary: good.map(encode) },
    { weight: 4, arbitrary: oneBadField.map(encode) },
    { weight: 2, arbitrary: anything },
  );
}

/** A route's template with each `:param` and `*` filled in, sometimes with hostile segments. */
function pathArb(world: World, r: RouteEntry): fc.Arbitrary<string> {
  const parts = r.url.split(/(:[A-Za-z0-9_]+|\*)/).filter((p) => p !== '');
  const filled = parts.map((p) => {
    if (p === '*')
      return mostly(
        fc.constantFrom(...world.goodWildcards),
        fc.oneof(
          fc.array(hostileSegment, { maxLength: 6 }).map((s) => s.join('/')),
          traversal,
        ),
        40,
      );
    if (p.startsWith(':')) return mostly(fc.constantFrom(...(world.goodParams[p.slice(1)] ?? ['x'])), hostileSegment, 30);
    // Literal parts: as registered, or percent-encoded, upper-cased, doubled slash, a climb inserted.
    const variants = [
      p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
      p.toUpperCase(),
      p.replace(/\/$/, '/%2e%2e/').replace(/^\//, '//'),
    ];
    return mostly(fc.constant(p), fc.constantFrom(...variants), 8);
  });
  return fc.tuple(...filled).map((xs) => xs.join(''));
}

const prefixArb = mostly(
  fc.oneof(
    { weight: 5, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom(TOKENS[0]!, encodeAll(TOKENS[0]!), TEAM_A_TOKEN).map((t) => `/t/${t}`) },
  ),
  fc.oneof(hostileSegment, fc.string({ maxLength: 20 }).map(encodeURIComponent)).map((t) => `/t/${t}`),
  15,
);

/** Query parameters the routes know, with values they accept. */
function queryArb(world: World): fc.Arbitrary<string> {
  const GOOD: Record<string, string[]> = {
    ecosystem: ['pypi', 'conda', 'oci'],
    name: ['demo-pkg', 'safelib'],
    version: ['1.0'],
    view: ['default', 'team-a'],
    state: ['requested', 'active'],
    requestedBy: ['fuzz-alice'],
    limit: ['5'],
    afterSeq: ['0'],
    since: ['2024-01-01'],
    until: ['2099-01-01T00:00:00Z'],
    actor: ['fuzz-alice'],
    action: ['exception.requested'],
    subject: ['EXC-1000'],
    image: ['registry.test:5000/app:1', `app@${world.digest}`],
    format: ['json', 'html'],
    channel: ['conda-forge'],
    subdir: ['linux-64'],
    build: ['h0'],
  };
  const pair = fc
    .constantFrom(...Object.keys(GOOD))
    .chain((k) => fc.constantFrom(...GOOD[k]!).map((v) => [k, encodeURIComponent(v)] as const));
  const badPair = fc
    .tuple(
      fc.constantFrom(...Object.keys(GOOD), '__proto__', 'constructor[prototype]', 'a[b]', '%', ''),
      fc.oneof(hostileSegment, fc.constantFrom('%00', 'a%00b', '%ed%a0%80', '%c0%80')),
    )
    .map(([k, v]) => [k, v] as const);
  const build = (pairs: ReadonlyArray<readonly [string, string]>) =>
    pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : '';
  const good = fc.array(pair, { maxLength: 3 }).map(build);
  const hostile = fc.oneof(
    fc.tuple(fc.array(pair, { maxLength: 2 }), badPair).map(([ps, b]) => build([...ps, b])),
    fc.constantFrom(
      '?',
      '?&&',
      '?=',
      '?%',
      '?a=%',
      '?name=%00',
      '?a=1&a=2&a=3',
      '?limit=1e309',
      '?limit=-1',
      '?afterSeq=99999999999999999999',
    ),
  );
  return mostly(good, hostile, 30);
}

const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'SEARCH',
  'QUERY',
  'get',
  'FOO',
  'G\u00c9T',
];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  DISTRIBUTION,
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'text/plain',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/jsonx',
  ';',
  'json',
];
const ACCEPTS = [
  'text/html',
  'application/vnd.pypi.simple.v1+json',
  'application/vnd.pypi.simple.v1+html;q=0.2, application/vnd.pypi.simple.latest+json',
  'application/json;q=0',
  'a/b;q=x',
  ',,,',
  'application/vnd.oci.image.index.v1+json',
];

type Header = [string, string | Buffer];
function headersArb(contentType: string): fc.Arbitrary<Header[]> {
  const basic = (x: string) => `Basic ${Buffer.from(x).toString('base64')}`;
  /** The header with probability `presence` (in hundredths), else none. */
  const optional = (name: string, values: fc.Arbitrary<string | Buffer>, presence: number) =>
    fc.oneof(
      { weight: presence, arbitrary: values.map((v): Header | undefined => [name, v]) },
      { weight: 100 - presence, arbitrary: fc.constant(undefined) },
    );
  const named = fc.tuple(
    mostly(
      fc.constant<Header | undefined>(['Host', '127.0.0.1']),
      fc.constantFrom<Header | undefined>(
        undefined,
        ['Host', 'evil.example'],
        ['Host', ''],
        ['Host', 'a b'],
        ['Host', '[::1]:1'],
        ['Host', 'x'.repeat(300)],
      ),
      10,
    ),
    mostly(
      fc
        .oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.constant(TEAM_A_TOKEN) })
        .map((t): Header | undefined => ['Authorization', `Bearer ${t}`]),
      fc.oneof(
        fc.constant(undefined),
        fc
          .constantFrom(
            basic(`token:${TOKENS[0]}`),
            basic(TOKENS[0]!),
            'Bearer',
            'Bearer a.b.c',
            'Basic %%%',
            'Basic ',
            'Digest x',
            basic('\u0000:\ud800'),
          )
          .map((v): Header => ['Authorization', v]),
        fc.string({ maxLength: 40 }).map((v): Header => ['Authorization', `Bearer ${v}`]),
      ),
      20,
    ),
    mostly(
      fc.constant<Header | undefined>(contentType ? ['Content-Type', contentType] : undefined),
      fc
        .oneof(fc.constant(undefined), fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 30 }))
        .map((v): Header | undefined => (v === undefined ? v : ['Content-Type', v])),
      15,
    ),
    optional('Accept', fc.oneof(fc.constantFrom(...ACCEPTS), fc.string({ maxLength: 30 })), 20),
    optional(
      'Range',
      fc.constantFrom(
        'bytes=0-10',
        'bytes=-1',
        'bytes=5-',
        'bytes=0-0,2-3,4-5',
        'bytes=99999999999999999999-',
        'bytes=a-b',
        'items=0-1',
        'bytes=-0',
        'bytes=10-5',
      ),
      15,
    ),
    optional('If-None-Match', fc.constantFrom('*', '"x"', 'W/"x"', '""', '"a", "b"'), 10),
    optional('Accept-Encoding', fc.constantFrom('gzip', 'zstd', 'br', 'identity;q=0', '*;q=0', 'gzip;q=x'), 20),
    optional('X-Request-Id', fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('x'.repeat(2000), '%00', '../..')), 10),
    optional('X-Safelist-Webhook-Secret', fc.constantFrom(ACR_SECRET, ACR_SECRET, 'wrong', ''), 40),
    optional('WebHook-Request-Origin', fc.oneof(fc.constantFrom('eventgrid.azure.net', '', '*'), fc.string({ maxLength: 20 })), 15),
    optional('Expect', fc.constantFrom('100-continue', 'x'), 3),
  );
  // Any other header, with any bytes in its value (framing headers stay the test's own).
  const value = mostly<string | Buffer>(
    fc.string({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    30,
  );
  const others = mostly(
    fc.constant([] as Header[]),
    fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), value), { minLength: 1, maxLength: 2 }),
    15,
  ).map((hs) => hs.filter(([n]) => !/^(connection|content-length|transfer-encoding|expect|host)$/i.test(n)));
  return fc.tuple(named, others).map(([n, o]) => [...n.filter((h): h is Header => h !== undefined), ...o]);
}

interface FuzzRequest {
  method: string;
  target: Buffer;
  headers: Header[];
  body: Buffer;
  chunked: boolean;
}

/** The request's bytes exactly as they go on the wire. */
function wire(r: FuzzRequest): Buffer {
  const head: Buffer[] = [Buffer.from(`${r.method} `, 'latin1'), r.target, Buffer.from(' HTTP/1.1\r\n')];
  for (const [n, v] of r.headers)
    head.push(Buffer.from(`${n}: `, 'latin1'), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from('\r\n'));
  head.push(Buffer.from('Connection: close\r\n'));
  if (r.chunked) {
    head.push(Buffer.from('Transfer-Encoding: chunked\r\n\r\n'));
    if (r.body.length) head.push(Buffer.from(`${r.body.length.toString(16)}\r\n`), r.body, Buffer.from('\r\n'));
    head.push(Buffer.from('0\r\n\r\n'));
  } else {
    head.push(Buffer.from(`Content-Length: ${r.body.length}\r\n\r\n`), r.body);
  }
  return Buffer.concat(head);
}

function requestArb(world: World): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...world.routes).chain((route) => {
    const path = pathArb(world, route);
    const target = fc.oneof(
      { weight: 30, arbitrary: fc.tuple(prefixArb, path, queryArb(world)).map(([p, x, q]) => Buffer.from(p + x + q, 'utf8')) },
      // Raw bytes in the request line: what no client encodes, and absolute or asterisk forms.
      {
        weight: 1,
        arbitrary: fc
          .tuple(path, fc.uint8Array({ minLength: 1, maxLength: 8 }))
          .map(([x, b]) => Buffer.concat([Buffer.from(x), Buffer.from(b)])),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(
            '*',
            'http://evil.example/healthz',
            '//evil.example/x',
            'pypi/default/simple/',
            '/\u00e9',
            '/%',
            '/t/',
            '/t//x',
            '/t/%/x',
            '/t/%zz/pypi/default/simple/',
          )
          .map((x) => Buffer.from(x, 'utf8')),
      },
    );
    const method = mostly(fc.constantFrom(...route.methods), fc.constantFrom(...METHODS), 15).map((m) =>
      Buffer.from(m, 'utf8').toString('latin1'),
    );
    return fc
      .tuple(method, target, bodyArb(route, world.digest), fc.boolean())
      .chain(([m, t, b, chunked]) =>
        headersArb(b.body.length ? b.type : '').map((headers) => ({ method: m, target: t, headers, body: b.body, chunked })),
      );
  });
}

/** What this property found once, replayed first on every run (each was a 5xx or a crash). */
function regressions(): Array<[FuzzRequest]> {
  const get = (target: string, headers: Header[] = [['Host', '127.0.0.1']]): [FuzzRequest] => [
    { method: 'GET', target: Buffer.from(target), headers, body: Buffer.alloc(0), chunked: false },
  ];
  const auth: Header[] = [
    ['Host', '127.0.0.1'],
    ['Authorization', `Bearer ${TOKENS[0]}`],
  ];
  const post = (target: string, body: string, type = 'application/json'): [FuzzRequest] => [
    { method: 'POST', target: Buffer.from(target), headers: [...auth, ['Content-Type', type]], body: Buffer.from(body), chunked: false },
  ];
  return [
    get('/t/%/x'), // the process exited (URIError in the URL rewrite)
    get('/t/%zz/pypi/default/simple/'), // the same, on a package route: now a 401 like any bad token
    // With package reads behind tokens these three need one (as the read paths do) to reach their handlers.
    get('/t/%/api/v1/workspaces/default/config', [
      ['Host', ''],
      ['Authorization', `Bearer ${TOKENS[0]}`],
    ]), // an empty Host became the snippets' base URL
    get('/api/v1/policy/why?name=demo-pkg&name=x', auth), // a parameter given twice is an array
    get('/api/v1/policy/check?ecosystem=pypi&name=a&version=1&version=2', auth),
    post(
      '/api/v1/exceptions',
      JSON.stringify({ ecosystem: 'pypi', name: 'numpy', view: 'team-a', reason: 'a perfectly good reason \u0000 otherwise' }),
    ),
    post(
      `/api/v1/gate/reports/sha256:${'ab'.repeat(32)}`,
      JSON.stringify({
        SchemaVersion: 2,
        Results: [
          { Target: 'x', Vulnerabilities: [{ VulnerabilityID: 'CVE-1', PkgName: '\u0000', InstalledVersion: '1', Severity: 'LOW' }] },
        ],
      }),
    ),
    get('/api/v1/audit?actor=%00', auth),
    // Not found by the property: the team-a token in its own view and in another, so both sides of its property run every time.
    get('/pypi/team-a/simple/', [
      ['Host', '127.0.0.1'],
      ['Authorization', `Bearer ${TEAM_A_TOKEN}`],
    ]),
    get(`/t/${TEAM_A_TOKEN}/conda/default/conda-forge/linux-64/repodata.json`),
  ];
}

/**
 * The view a read-path request reads, found independently of the server's own code: the first
 * segment after /pypi/, /conda/ or /npm/ (decoded, as the router gives it to the route), or OCI's
 * /v2/views/<view>/ (else its default view); null for /v2/ itself; undefined off the read paths.
 */
function viewReadBy(target: string): string | null | undefined {
  const path = (/^\/t\/[^/]{1,512}(\/.*)$/.exec(target)?.[1] ?? target).split('?')[0]!;
  const decode = (seg: string) => {
    try {
      return decodeURIComponent(seg);
    } catch {
      return seg;
    }
  };
  for (const prefix of ['/pypi/', '/conda/', '/npm/']) if (path.startsWith(prefix)) return decode(path.slice(prefix.length).split('/')[0]!);
  if (path === '/v2' || path === '/v2/') return null;
  if (!path.startsWith('/v2/')) return undefined;
  const segs = path.slice('/v2/'.length).split('/');
  return segs[0] === 'views' ? decode(segs[1] ?? '') : 'default';
}

/** Does the request carry the team-a token and no other good token (so the team-a token is who it is)? */
function asTeamAOnly(r: FuzzRequest): boolean {
  const text = wire(r).toString('latin1');
  if (!text.includes(TEAM_A_TOKEN)) return false;
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  return !TOKENS.some((t) => [t, encodeAll(t), b64(`token:${t}`), b64(t)].some((form) => text.includes(form)));
}

function describeRequest(r: FuzzRequest): string {
  return JSON.stringify(wire(r).subarray(0, 2000).toString('latin1'));
}

// ---- the world the requests land in -------------------------------------------------------

describe.each(DB_MODES)('HTTP surface under arbitrary requests (%s)', (db) => {
  let sl: TestSafelist;
  let port: number;
  let world: World;
  let work: string | undefined;
  const digest = `sha256:${'ab'.repeat(32)}`;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - demo-pkg\n',
      condaAllowlist: 'channels:\n  conda-forge:\n    - safelib\n',
      condaChannels: [
        {
          name: 'conda-forge',
          url: 'https://conda.anaconda.org/conda-forge',
          alias: ['cf'],
          subdirs: ['linux-64'],
          anacondaTermsAccepted: false,
        },
      ],
      extra: {
        auth: {
          packageRead: 'token',
          tokens: [
            ...['fuzz-alice', 'fuzz-bob'].map((id, i) => ({
              id,
              token: TOKENS[i],
              roles: ['requester', 'approver', 'admin', 'pipeline', 'webhook', 'auditor'],
            })),
            { id: 'fuzz-carol', token: TEAM_A_TOKEN, read: ['team-a'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: 'http://registry.test:5000' }],
          acrWebhook: { secret: ACR_SECRET },
          reconcileSchedule: '',
        },
        exceptions: { expirySchedule: '' },
      },
    });
    port = Number(new URL(sl.url).port);
    // The canary beside the store (and one level up): a traversal that escapes finds it.
    await writeFile(join(sl.dir, 'canary.txt'), CANARY);
    await writeFile(join(sl.dir, 'blobs', '..', 'blobs-canary.txt'), CANARY);
    work = await mkdtemp(join(tmpdir(), 'safelist-fuzz-'));
    const wheel = await buildWheel(join(work, 'pypi'), { name: 'demo-pkg', version: '1.0' });
    await importPypiDir(join(work, 'pypi'), { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    const conda = await buildCondaPackage(join(work, 'conda'), { name: 'safelib', version: '1.0' });
    await importCondaDir(join(work, 'conda'), {
      store: sl.runtime.store,
      catalog: openedConda(sl.runtime).catalog,
      channel: 'conda-forge',
    });
    const created = await fetch(`${sl.url}/api/v1/exceptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS[0]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ecosystem: 'pypi', name: 'other-pkg', view: 'team-a', reason: 'a request the fuzzer can act on' }),
    });
    expect(created.status).toBe(201);
    const excId = ((await created.json()) as { id: string }).id;

    const routes = routeTable(sl.app.printRoutes({ commonPrefix: false }));
    world = {
      routes,
      goodParams: {
        view: ['default', 'team-a', 'nope'],
        project: ['demo-pkg', 'Demo_Pkg', 'other-pkg'],
        sha256: [wheel.sha256, 'a'.repeat(64)],
        filename: [
          wheel.filename,
          `${wheel.filename}.metadata`,
          conda.filename,
          'repodata.json',
          'repodata.json.zst',
          'current_repodata.json',
          'repodata.json.bz2',
        ],
        channel: ['conda-forge', 'cf'],
        subdir: ['linux-64', 'noarch'],
        id: [excId, 'EXC-1'],
        digest: [digest, 'sha256:zz'],
      },
      goodWildcards: [
        'docker.io/library/x/manifests/latest',
        'views/team-a/mcr/azureml/base/tags/list',
        `mcr/azureml/base/blobs/${digest}`,
        'views/%2e%2e/mcr/x/manifests/latest',
      ],
      digest,
    };
  });

  afterAll(async () => {
    await sl?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("reads every registered route from fastify's route table", () => {
    // The parser is checked against fastify itself: each route it found is one fastify knows.
    for (const r of world.routes)
      for (const m of r.methods) expect(sl.app.hasRoute({ method: m as 'GET', url: r.url }), `${m} ${r.url}`).toBe(true);
    const urls = world.routes.map((r) => r.url);
    for (const u of [
      '/healthz',
      '/pypi/:view/files/:sha256/:filename',
      '/conda/:view/:channel/:subdir/:filename',
      '/v2/*',
      '/api/v1/exceptions/:id/approve',
      '/api/v1/gate/reports/:digest',
    ])
      expect(urls).toContain(u);
  });

  it('a bad %-escape in the /t/<token>/ prefix is a bad token (401), not the end of the process', async () => {
    for (const token of ['%', '%zz', '%c0%80', '%ed%a0%80']) {
      const a = await sendRaw(
        port,
        Buffer.from(
          `GET /t/${token}/conda/default/conda-forge/linux-64/repodata.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        ),
      );
      expect(a.status, token).toBe(401);
    }
    const ok = await sendRaw(
      port,
      Buffer.from(
        `GET /t/${encodeAll(TOKENS[0]!)}/conda/default/conda-forge/linux-64/repodata.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      ),
    );
    expect(ok.status).toBe(200);
  });

  it('answers every request with less than a 5xx, serves nothing outside storage, keeps the team-a token in team-a and stays up', async () => {
    let sent = 0;
    let teamAOwn = 0;
    let teamAOther = 0;
    await fc.assert(
      fc.asyncProperty(requestArb(world), async (r) => {
        let a: RawAnswer;
        try {
          a = await sendRaw(port, wire(r));
        } catch (err) {
          throw new Error(`${(err as Error).message} for ${describeRequest(r)}`);
        }
        sent++;
        const what = `${a.raw.subarray(0, 300).toString('latin1')}\n--- for ---\n${describeRequest(r)}`;
        if (a.status === undefined) throw new Error(`the server closed without answering: ${what}`);
        if (a.status >= 500) throw new Error(`a ${a.status}: ${what}`);
        if (a.body.includes(CANARY) || a.raw.includes(CANARY)) throw new Error(`served a file from outside the store: ${what}`);
        if (a.body.includes('root:x:0:0')) throw new Error(`served /etc/passwd: ${what}`);
        if (a.status < 300 && asTeamAOnly(r)) {
          const view = viewReadBy(r.target.toString('latin1'));
          if (view !== undefined && view !== null && view !== 'team-a') {
            teamAOther++;
            throw new Error(`a ${a.status} for the team-a token in view ${JSON.stringify(view)}: ${what}`);
          }
          if (view === 'team-a') teamAOwn++;
        }
      }),
      // No shrinking: a request that hangs would be retried for minutes; the failure names the whole request anyway.
      { numRuns: RUNS, endOnFailure: true, examples: regressions(), ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    expect(sent).toBe(RUNS);
    // The team-a token did read its own view (the property above was not vacuous).
    expect({ teamAOwn: teamAOwn > 0, teamAOther }).toEqual({ teamAOwn: true, teamAOther: 0 });
    const health = await fetch(`${sl.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
