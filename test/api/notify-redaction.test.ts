// A failed notification is logged without the webhook's credential: Teams and Power Automate
// workflow URLs carry it in the query (sig=), so the log names origin and path only, and the
// error message says why delivery failed without repeating the URL. Real deliveries to a real
// HTTP receiver (refusing, redirecting) and to a closed port; the log is the real pino output.
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryError, Notifier } from '../../src/notify/notifier.js';
import { notifyException } from '../../src/exceptions/notify.js';
import type { ExceptionRecord } from '../../src/exceptions/service.js';
import { configSchema } from '../../src/ecosystems/index.js';

const SIG = 'S3cr3tSigFromPowerAutomate0123456789abcdef';
const FLOW_PATH = '/workflows/4f2c0d9e/triggers/manual/paths/invoke';
const QUERY = `?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SIG}`;

const RECORD: ExceptionRecord = {
  id: 'EXC-1001',
  ecosystem: 'pypi',
  name: 'numpy',
  versions: '',
  view: 'team-a',
  reason: 'needed for the forecast',
  state: 'requested',
  requestedBy: 'alice',
  requestedByName: 'Alice',
  requestedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-02-01T00:00:00.000Z',
  decidedBy: null,
  decidedByName: null,
  decidedAt: null,
  decisionNote: null,
  triage: {},
  bundle: null,
};

describe('notification failures in the log', () => {
  let server: Server;
  let base: string;
  let closedPort: number;

  beforeAll(async () => {
    // /refuse answers 403 (a revoked flow), /moved redirects (refused: redirect "error").
    server = createServer((req, res) => {
      req.resume();
      if (req.url!.startsWith('/moved')) return void res.writeHead(302, { location: `http://127.0.0.1:1/elsewhere${QUERY}` }).end();
      res.writeHead(403).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // A port that was just free and is closed again: connection refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function logOf(urls: string[], send: (n: Notifier) => void): Promise<Array<Record<string, unknown>>> {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const config = configSchema.parse({
      notifications: { webhooks: urls.map((url) => ({ url, format: 'teams' })), attempts: 1, retryBase: '10ms' },
    });
    const n = new Notifier(config, log);
    send(n);
    await n.drain(10_000);
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('names origin and path of a webhook that refused, never its sig', async () => {
    const lines = await logOf([`${base}/refuse${FLOW_PATH}${QUERY}`], (n) => notifyException(n, 'exception.requested', RECORD));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.webhook).toBe(`${base}/refuse${FLOW_PATH}`);
    expect(lines[0]!.status).toBe(403);
    expect(JSON.stringify(lines)).not.toContain(SIG);
    expect(JSON.stringify(lines)).not.toContain('sig=');
  });

  it("says why a connection failed, without the URL's query", async () => {
    const url = `http://127.0.0.1:${closedPort}${FLOW_PATH}${QUERY}`;
    const lines = await logOf([url], (n) => n.post({ url }, 'gate.verdict', 'app@sha256:00', { hello: 1 }));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.webhook).toBe(`http://127.0.0.1:${closedPort}${FLOW_PATH}`);
    expect(String(lines[0]!.error)).toContain('ECONNREFUSED');
    expect(JSON.stringify(lines)).not.toContain(SIG);
  });

  it('a refused redirect is logged the same way', async () => {
    const lines = await logOf([`${base}/moved${FLOW_PATH}${QUERY}`], (n) => notifyException(n, 'exception.approved', RECORD));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.webhook).toBe(`${base}/moved${FLOW_PATH}`);
    expect(String(lines[0]!.error)).toMatch(/redirect/i);
    expect(JSON.stringify(lines)).not.toContain(SIG);
  });

  it('an error message that embeds the URL (as undici\'s "Failed to parse URL from …" does) loses its query', () => {
    const url = `https://prod-00.westus.logic.azure.com:443${FLOW_PATH}${QUERY}`;
    const text = deliveryError(
      new TypeError(`Failed to parse URL from ${url}`, { cause: new Error(`bad ${decodeURIComponent(QUERY)}`) }),
      url,
    );
    expect(text).toContain(`https://prod-00.westus.logic.azure.com${FLOW_PATH}`);
    expect(text).not.toContain(SIG);
  });
});
