// The framework's ceiling for bench/pypi-index.ts: a bare fastify server (the version Safelist
// depends on, logger off, no hooks, no plugins) answering each page with the bytes Safelist
// served, from a Buffer in memory, with the headers Safelist sent (content-type, etag,
// cache-control, vary). Run as its own process by the benchmark:
//
//   node bench/bare-fastify.ts --port N --pages pages.json
//
// pages.json: [{ "url": "/small-html", "file": "/tmp/…/small-html.html", "headers": { … } }].
// It must never do more per request than send a prepared buffer: anything else would be
// Safelist's cost counted as the framework's. Plain TypeScript that Node.js runs by stripping
// types (no enums, no parameter properties). The benchmarks start it with `--import` of
// dist/tick-shape.js (bareFastifyFlags in node-flags.ts), as Safelist's entry points import it
// first: without it a full GC at start-up (loading the type stripper is one) can leave
// process.nextTick megamorphic in this process too, at random, and lower the ceiling.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

interface Page {
  url: string;
  file: string;
  headers: Record<string, string>;
}

const { values: args } = parseArgs({ options: { port: { type: 'string' }, pages: { type: 'string' } } });
if (!args.port || !args.pages) throw new Error('usage: node bench/bare-fastify.ts --port N --pages pages.json');
const pages = JSON.parse(readFileSync(args.pages, 'utf8')) as Page[];

const app = Fastify({ logger: false });
for (const page of pages) {
  const body = readFileSync(page.file);
  const headers = page.headers;
  app.get(page.url, (_req, reply) => {
    reply.headers(headers).send(body);
  });
}
app.get('/healthz', (_req, reply) => {
  reply.send('ok');
});
await app.listen({ host: '127.0.0.1', port: Number(args.port) });
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
