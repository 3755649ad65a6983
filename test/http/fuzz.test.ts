// Property-based robustness of the whole HTTP surface: fast-check generates requests over every
// route fastify has registered (read from its route table, so a new route is covered without
// editing this file) and every prefix the server rewrites or strips (/t/<token>/ for conda,
// /v2/views/<view>/ for OCI), with arbitrary methods, percent-encodings (invalid, overlong
// UTF-8, %00, surrogates, ../ and %2e%2e), headers and bodies (JSON-ish and raw bytes). They go
// over a real socket as raw bytes, so what no client would send still reaches the server. The
// properties: no answer is a 5xx, the server stays up (/healthz answers), and nothing outside
// the blob store is ever served (a canary file planted next to the store never appears).
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
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

const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const PIPELINE_TOKEN = 'fuzz-pipeline-token-0123456789abcd';
const WEBHOOK_TOKEN = 'fuzz-webhook-token-0123456789abcde';
const ACR_SECRET = 'fuzz-acr-shared-secret-0123456789';
const CANARY = `safelist-canary-${randomBytes(12).toString('hex')}`;
/** Cases per database mode: a few thousand requests in all, seconds on a quiet machine. */
const RUNS = 1500;

export interface RouteEntry {
  url: string;
  methods: string[];
}

/**
 * The routes of fastify's route table, from `printRoutes({ commonPrefix: false })`: one line
 * per node, four columns of tree drawing per level, each node's text appended to its parent's.
 */
export function routeTable(printed: string): RouteEntry[] {
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

// ---- the alphabet of hostile fragments ---------------------------------------------------

/** Encodings no path should survive badly: invalid escapes, overlong UTF-8, NUL, surrogates. */
const NASTY = [
  '%', '%2', '%zz', '%G0', '%%', '%%32%65', '%u002e', '%00', '%0a', '%0d%0a', '%09', '%7f', '%ff', '%fe%ff', '%c0%80',
  '%c0%ae', '%c0%af', '%c1%9c', '%e0%80%ae', '%f0%80%80%ae', '%ed%a0%80', '%ed%b0%80', '%ed%a0%80%ed%b0%80', '%f4%90%80%80',
  '%f8%88%80%80%80', '%2e', '%2e%2e', '%2E%2E%2F', '.', '..', '../', '..%2f', '..%5c', '%2f', '%5c', '\\', '//', ';', '%3b',
  '%23', '%25', '%3f', '~', '*', '@', ':', '%3a', 'é', '%C3%A9', '💥', '%F0%9F%92%A5', 'con', 'nul', '.git', '.env',
  'a'.repeat(301), '%41'.repeat(200), '__proto__', 'constructor', 'prototype', 'EXC-0', 'EXC-999999999999', 'sha256:', 'sha256:zz',
];

/** Ways of climbing out of a folder, each ending at the canary planted beside the store. */
const CLIMB = ['../', '..%2f', '..%2F', '%2e%2e/', '%2e%2e%2f', '%2E%2E%2F', '..\\', '..%5c', '%c0%ae%c0%ae/', '....//', '.%2e/', '%2e./', '..;/', '%252e%252e%252f'];
const traversal = fc
  .tuple(fc.constantFrom(...CLIMB), fc.integer({ min: 1, max: 8 }), fc.constantFrom('canary.txt', 'blobs/../canary.txt', 'etc/passwd', '/etc/passwd'))
  .map(([up, n, target]) => up.repeat(n) + target);

/** Percent-encodes every byte of a string's UTF-8 (or leaves it raw). */
const encodeAll = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

function segmentArb(good: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...good) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
    { weight: 2, arbitrary: traversal },
    { weight: 2, arbitrary: fc.string({ maxLength: 24 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(encodeAll) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom(...NASTY, ...good), { minLength: 2, maxLength: 4 }).map((p) => p.join('')) },
  );
}

// ---- requests -----------------------------------------------------------------------------

interface World {
  routes: RouteEntry[];
  goodParams: Record<string, string[]>;
  goodWildcards: string[];
}

/** A route's template with each `:param` and `*` filled in, maybe mangled around the edges. */
function pathArb(world: World, r: RouteEntry): fc.Arbitrary<string> {
  const parts = r.url.split(/(:[A-Za-z0-9_]+|\*)/).filter((p) => p !== '');
  const filled = parts.map((p) => {
    if (p === '*') return fc.oneof(fc.constantFrom(...world.goodWildcards), fc.array(segmentArb(['latest', 'library', 'views', 'manifests', 'blobs', 'tags', 'list']), { maxLength: 6 }).map((s) => s.join('/')), traversal);
    if (p.startsWith(':')) return segmentArb(world.goodParams[p.slice(1)] ?? ['x']);
    // Literal parts: as registered, percent-encoded, upper-cased, or with a climb inserted.
    return fc.oneof(
      { weight: 8, arbitrary: fc.constant(p) },
      { weight: 1, arbitrary: fc.constant(p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`)) },
      { weight: 1, arbitrary: fc.constant(p.toUpperCase()) },
      { weight: 1, arbitrary: fc.constant(p.replace(/\/$/, '/%2e%2e/').replace(/^\//, '//')) },
    );
  });
  return fc.tuple(...filled).map((xs) => xs.join(''));
}

const prefixArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom(ADMIN_TOKEN, encodeAll(ADMIN_TOKEN), PIPELINE_TOKEN).map((t) => `/t/${t}`) },
  { weight: 3, arbitrary: fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 20 }).map(encodeURIComponent), traversal).map((t) => `/t/${t}`) },
);

const QUERY_KEYS = ['format', 'name', 'view', 'ecosystem', 'version', 'channel', 'build', 'subdir', 'state', 'requestedBy', 'limit', 'afterSeq', 'since', 'until', 'actor', 'action', 'subject', 'image', 'x', '__proto__', 'constructor[prototype]', 'a[b]'];
const queryArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  {
    weight: 4,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.oneof(fc.constantFrom(...NASTY, 'json', 'html', 'pypi', 'default', '5', '-1', '1e309', '2024-01-01', 'demo-pkg'), fc.string({ maxLength: 16 }).map(encodeURIComponent))), { maxLength: 5 })
      .map((kv) => `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?=', '?%', '?a=%', '?name=%00', '?a=1&a=2&a=3') },
);

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'QUERY', 'get', 'FOO', 'G\u00c9T'];

/** Strings a database cannot hold, and the rest of the usual suspects for a JSON field. */
const stringArb = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\ud83d', '\uffff', '', ' '.repeat(20), 'why '.repeat(5), 'x'.repeat(5000), 'EXC-1001', 'sha256:' + 'a'.repeat(64), 'push', 'pypi', 'team-a', '*'),
);
const jsonValueArb = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, stringArb, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(stringArb, fc.constantFrom('reason', 'note', 'events', 'id', 'action', 'target', 'Results', 'Vulnerabilities')), tie('value'), { maxKeys: 5 }),
})).value;

/** Bodies shaped like the API's own, with hostile values where the strings go. */
function shapedBodyArb(digest: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.record({ ecosystem: fc.constantFrom('pypi', 'conda', 'oci', 'x'), name: stringArb, versions: stringArb, view: fc.constantFrom('team-a', '*', 'default'), reason: stringArb }),
    fc.record({ note: stringArb }),
    fc.record({ events: fc.array(fc.record({ id: stringArb, action: fc.constantFrom('push', 'pull', 'x'), target: fc.record({ mediaType: fc.constantFrom('application/vnd.oci.image.manifest.v1+json', 'x'), digest: fc.constantFrom(digest, 'sha256:zz'), repository: stringArb, tag: stringArb }), request: fc.record({ host: fc.constantFrom('registry.test:5000', 'x') }) }), { maxLength: 3 }) }),
    fc.record({ id: stringArb, action: fc.constantFrom('push', 'ping'), target: fc.record({ mediaType: fc.constant('application/vnd.oci.image.manifest.v1+json'), digest: fc.constant(digest), repository: stringArb }), request: fc.record({ host: stringArb }) }),
    fc.array(fc.record({ id: stringArb, eventType: fc.constantFrom('Microsoft.ContainerRegistry.ImagePushed', 'Microsoft.EventGrid.SubscriptionValidationEvent'), data: jsonValueArb }), { maxLength: 3 }),
    fc.record({ SchemaVersion: fc.constant(2), ArtifactName: stringArb, Metadata: fc.record({ RepoDigests: fc.array(fc.constantFrom(`registry.test:5000/app@${digest}`, 'x'), { maxLength: 2 }) }), Results: fc.array(fc.record({ Target: stringArb, Vulnerabilities: fc.array(fc.record({ VulnerabilityID: stringArb, PkgName: stringArb, InstalledVersion: stringArb, FixedVersion: stringArb, Severity: fc.constantFrom('CRITICAL', 'LOW', 'x'), Title: stringArb }), { maxLength: 3 }) }), { maxLength: 2 }) }),
  );
}

function bodyArb(digest: string): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(Buffer.alloc(0)) },
    { weight: 4, arbitrary: shapedBodyArb(digest).map((v) => Buffer.from(JSON.stringify(v))) },
    { weight: 2, arbitrary: jsonValueArb.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom('{', '{"note":', '[[[[', '{"a":1}{"b":2}', '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', `${'['.repeat(20000)}${']'.repeat(20000)}`, '{"reason":"\\ud800 is lone"}', '{"note":"nul \\u0000 here"}').map((s) => Buffer.from(s)) },
  );
}

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/vnd.docker.distribution.events.v1+json', 'application/cloudevents+json',
  'application/cloudevents-batch+json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/jsonx', ';', 'json',
];
const ACCEPTS = ['*/*', 'text/html', 'application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.v1+html;q=0.2, application/vnd.pypi.simple.latest+json', 'application/json;q=0', 'a/b;q=x', ',,,', 'application/vnd.oci.image.index.v1+json'];

type Header = [string, string | Buffer];
function headersArb(): fc.Arbitrary<Header[]> {
  const optional = (name: string, values: fc.Arbitrary<string | Buffer>, freq = 2) => fc.option(values.map((v): Header => [name, v]), { nil: undefined, freq });
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  const named = fc.tuple(
    optional('Host', fc.constantFrom('127.0.0.1', 'evil.example', '', 'a b', '[::1]:1', 'x'.repeat(300)), 8),
    optional('Authorization', fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(`Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}`, `Bearer ${PIPELINE_TOKEN}`, `Bearer ${WEBHOOK_TOKEN}`) },
      fc.constantFrom(`Bearer ${ADMIN_TOKEN}`, `Bearer ${PIPELINE_TOKEN}`, `Bearer ${WEBHOOK_TOKEN}`, basic(`token:${ADMIN_TOKEN}`), basic(ADMIN_TOKEN), 'Bearer', 'Bearer a.b.c', 'Basic %%%', 'Basic ', 'Digest x', basic('\u0000:\ud800')),
      fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
    ), 5),
    optional('Content-Type', fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES.slice(0, 6)) }, fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 30 })), 5),
    optional('Accept', fc.oneof(fc.constantFrom(...ACCEPTS), fc.string({ maxLength: 30 }))),
    optional('Range', fc.constantFrom('bytes=0-10', 'bytes=-1', 'bytes=5-', 'bytes=0-0,2-3,4-5', 'bytes=99999999999999999999-', 'bytes=a-b', 'items=0-1', 'bytes=-0', 'bytes=10-5')),
    optional('If-None-Match', fc.constantFrom('*', '"x"', 'W/"x"', '""', '"a", "b"')),
    optional('Accept-Encoding', fc.constantFrom('gzip', 'zstd', 'br', 'identity;q=0', '*;q=0', 'gzip;q=x')),
    optional('X-Request-Id', fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('x'.repeat(2000), '%00', '../..'))),
    optional('X-Safelist-Webhook-Secret', fc.constantFrom(ACR_SECRET, 'wrong', '')),
    optional('WebHook-Request-Origin', fc.oneof(fc.constantFrom('eventgrid.azure.net', '', '*'), fc.string({ maxLength: 20 }))),
    optional('Expect', fc.constantFrom('100-continue', 'x'), 4),
  );
  // Any other header, with any bytes in its value (framing headers stay the test's own).
  const others = fc
    .array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))), { maxLength: 2 })
    .map((hs) => hs.filter(([n]) => !/^(connection|content-length|transfer-encoding|expect|host)$/i.test(n)));
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
  for (const [n, v] of r.headers) head.push(Buffer.from(`${n}: `, 'latin1'), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from('\r\n'));
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

/** Mostly requests a route would accept (its methods, JSON with a JSON type), the rest anything. */
function requestArb(world: World, digest: string): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...world.routes).chain((route) => {
    const path = pathArb(world, route);
    const target = fc.oneof(
      { weight: 20, arbitrary: fc.tuple(prefixArb, path, queryArb).map(([p, x, q]) => Buffer.from(p + x + q, 'utf8')) },
      // Raw bytes in the request line: what no client encodes, and absolute or asterisk forms.
      { weight: 1, arbitrary: fc.tuple(path, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([x, b]) => Buffer.concat([Buffer.from(x), Buffer.from(b)])) },
      { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil.example/healthz', '//evil.example/x', 'pypi/default/simple/', '/\u00e9', '/%', '/t/', '/t//x', '/t/%/x', '/t/%zz/pypi/default/simple/').map((s) => Buffer.from(s, 'utf8')) },
    );
    const method = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...route.methods) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) });
    return fc.record({
      method: method.map((m) => Buffer.from(m, 'utf8').toString('latin1')),
      target,
      headers: headersArb(),
      body: bodyArb(digest),
      chunked: fc.boolean(),
    });
  });
}

function describeRequest(r: FuzzRequest): string {
  return JSON.stringify(wire(r).subarray(0, 2000).toString('latin1'));
}

// ---- the world the requests land in -------------------------------------------------------

describe.each(DB_MODES)('HTTP surface under arbitrary requests (%s)', (db) => {
  let sl: TestSafelist;
  let port: number;
  let world: World;
  const digest = `sha256:${'ab'.repeat(32)}`;

  beforeAll(async () => {
    sl = await startTestSafelist({
      db,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - demo-pkg\n',
      condaAllowlist: 'channels:\n  conda-forge:\n    - safelib\n',
      condaChannels: [{ name: 'conda-forge', url: 'https://conda.anaconda.org/conda-forge', alias: ['cf'], subdirs: ['linux-64'], anacondaTermsAccepted: false }],
      extra: {
        auth: {
          packageRead: 'token',
          tokens: [
            { id: 'fuzz-admin', token: ADMIN_TOKEN, roles: ['admin', 'requester', 'auditor'] },
            { id: 'fuzz-pipeline', token: PIPELINE_TOKEN, roles: ['pipeline'] },
            { id: 'fuzz-webhook', token: WEBHOOK_TOKEN, roles: ['webhook'] },
          ],
        },
        gate: { registries: [{ name: 'local', url: 'http://registry.test:5000' }], acrWebhook: { secret: ACR_SECRET }, reconcileSchedule: '' },
        exceptions: { expirySchedule: '' },
      },
    });
    port = Number(new URL(sl.url).port);
    // The canary beside the store (and one level up): a traversal that escapes finds it.
    await writeFile(join(sl.dir, 'canary.txt'), CANARY);
    await writeFile(join(sl.dir, 'blobs', '..', 'blobs-canary.txt'), CANARY);
    const work = await mkdtemp(join(tmpdir(), 'safelist-fuzz-'));
    const wheel = await buildWheel(join(work, 'pypi'), { name: 'demo-pkg', version: '1.0' });
    await importPypiDir(join(work, 'pypi'), { store: sl.runtime.store, catalog: sl.runtime.pypiCatalog });
    const conda = await buildCondaPackage(join(work, 'conda'), { name: 'safelib', version: '1.0' });
    await importCondaDir(join(work, 'conda'), { store: sl.runtime.store, catalog: sl.runtime.condaCatalog, channel: 'conda-forge' });
    const created = await fetch(`${sl.url}/api/v1/exceptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
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
        filename: [wheel.filename, `${wheel.filename}.metadata`, conda.filename, 'repodata.json', 'repodata.json.zst', 'current_repodata.json', 'repodata.json.bz2'],
        channel: ['conda-forge', 'cf'],
        subdir: ['linux-64', 'noarch'],
        id: [excId, 'EXC-1'],
        digest: [digest, 'sha256:zz'],
      },
      goodWildcards: ['docker.io/library/x/manifests/latest', 'views/team-a/mcr/azureml/base/tags/list', `mcr/azureml/base/blobs/${digest}`, 'views/%2e%2e/mcr/x/manifests/latest'],
    };
  });

  afterAll(async () => {
    await sl?.stop();
  });

  it('reads every registered route from fastify\'s route table', () => {
    // The parser is checked against fastify itself: each route it found is one fastify knows.
    for (const r of world.routes) for (const m of r.methods) expect(sl.app.hasRoute({ method: m as 'GET', url: r.url }), `${m} ${r.url}`).toBe(true);
    const urls = world.routes.map((r) => r.url);
    for (const u of ['/healthz', '/pypi/:view/files/:sha256/:filename', '/conda/:view/:channel/:subdir/:filename', '/v2/*', '/api/v1/exceptions/:id/approve', '/api/v1/gate/reports/:digest']) expect(urls).toContain(u);
  });

  it('answers every request with less than a 5xx, serves nothing outside storage and stays up', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(requestArb(world, digest), async (r) => {
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
      }),
      { numRuns: RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
    expect(sent).toBe(RUNS);
    const health = await fetch(`${sl.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
