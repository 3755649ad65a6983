// Prometheus metrics (prom-client) for /metrics: requests by surface and status, bytes served,
// blocked requests by ecosystem, index cache hits, sync runs and file outcomes, failed catalog
// reloads, exception states, gate verdicts by state, audit chain length, plus the process's own metrics. One registry per server, so
// several servers in one process (tests) never share counters. Counting a request must stay a few
// Map lookups and an addition (it runs on every read-path request): no label hashing, no promise,
// no listener or hook per request.
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

// The class itself through getBuiltinModule, not an ES-module import: Node builds node:http's
// module namespace by reading every export, the lazy WebSocket among them, which loads its bundled
// undici (~10 MiB resident) into a server that never uses it (test/cli/serve-modules.test.ts).
const { ServerResponse } = process.getBuiltinModule('node:http');
type ServerResponse<Request extends IncomingMessage = IncomingMessage> = import('node:http').ServerResponse<Request>;
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OpenEcosystem } from '../ecosystems/types.js';
import type { Db } from '../state/db.js';
import type { CatalogReloads } from '../catalog/reload.js';

/** An ecosystem's id (its read path), or one of the other surfaces. */
export type Surface = string;

/** Which surface a request URL is on: the first ecosystem whose read path it is, else api, health or other. */
export function surfaceOf(url: string, ecosystems: Iterable<OpenEcosystem> = []): Surface {
  for (const { module } of ecosystems) {
    if (module.surface.matches ? module.surface.matches(url) : url.startsWith(module.surface.prefix)) return module.id;
  }
  if (url.startsWith('/api/')) return 'api';
  if (url.startsWith('/healthz') || url.startsWith('/readyz') || url.startsWith('/metrics')) return 'health';
  return 'other';
}

export class Metrics {
  readonly registry = new Registry();
  /** Every response, by surface, then method, then status code; read into the counters below at scrape time. */
  private readonly tally = new Map<Surface, { byMethod: Map<string, Map<number, number>>; bytes: number }>();
  readonly requests: Counter<'surface' | 'method' | 'status'>;
  readonly bytes: Counter<'surface'>;
  readonly blocked = new Counter({
    name: 'safelist_blocked_requests_total',
    help: 'Requests refused by policy, by ecosystem',
    labelNames: ['ecosystem'] as const,
    registers: [this.registry],
  });
  readonly syncRuns = new Counter({
    name: 'safelist_sync_runs_total',
    help: 'Sync runs by ecosystem and result',
    labelNames: ['ecosystem', 'result'] as const,
    registers: [this.registry],
  });
  readonly syncFiles = new Counter({
    name: 'safelist_sync_files_total',
    help: 'Files handled by the sync, by ecosystem and outcome (downloaded, failed)',
    labelNames: ['ecosystem', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly syncBytes = new Counter({
    name: 'safelist_sync_bytes_total',
    help: 'Bytes downloaded and stored by the sync',
    labelNames: ['ecosystem'] as const,
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: 'safelist_job_runs_total',
    help: 'Job runs (jobs/runner.ts) by job and result (ok, busy: another run held the lock, error)',
    labelNames: ['job', 'result'] as const,
    registers: [this.registry],
  });
  readonly jobSeconds = new Histogram({
    name: 'safelist_job_duration_seconds',
    help: 'Job run duration by job',
    labelNames: ['job'] as const,
    buckets: [0.1, 1, 10, 60, 300, 1800, 7200],
    registers: [this.registry],
  });

  private readonly ecosystems: readonly OpenEcosystem[];

  /**
   * The class the HTTP server makes its responses from (node:http createServer's ServerResponse
   * option, given by http/app.ts): it counts each response when its head is written, which every
   * response does once (fastify's replies, hijacked file streams, errors, 404s). Counting there
   * instead of in an onResponse hook spares fastify's per-response 'finish' and 'error' listeners
   * and clock reads. Requests made with fastify's inject() never reach the HTTP server and are not
   * counted.
   */
  readonly Response: typeof ServerResponse;

  constructor(deps: {
    ecosystems: ReadonlyMap<string, OpenEcosystem>;
    db: Db;
    reloads?: Pick<CatalogReloads, 'failureCounts' | 'pendingCounts'>;
  }) {
    const tally = this.tally;
    this.requests = new Counter({
      name: 'safelist_http_requests_total',
      help: 'HTTP requests by surface, method and status',
      labelNames: ['surface', 'method', 'status'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [surface, t] of tally)
          for (const [method, byStatus] of t.byMethod)
            for (const [status, n] of byStatus) this.inc({ surface, method, status: String(status) }, n);
      },
    });
    this.bytes = new Counter({
      name: 'safelist_http_response_bytes_total',
      help: 'Response body bytes by surface (from Content-Length)',
      labelNames: ['surface'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [surface, t] of tally) if (t.bytes > 0) this.inc({ surface }, t.bytes);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'safelist_' });
    if (deps.reloads) this.catalogReloadMetrics(deps.reloads);
    this.ecosystems = [...deps.ecosystems.values()];
    this.Response = countingResponse(this);
    // Summed over the ecosystems that keep rendered documents in memory.
    const stat = (key: string) => this.ecosystems.reduce((n, e) => n + (e.stats?.()[key] ?? 0), 0);
    new Gauge({
      name: 'safelist_index_cache_lookups',
      help: 'Rendered index document lookups since start, by result (hit = served from memory)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        this.set({ result: 'hit' }, stat('cacheHits'));
        this.set({ result: 'miss' }, stat('cacheMisses'));
      },
    });
    new Gauge({
      name: 'safelist_index_cache_bytes',
      help: 'Bytes of rendered index documents held in memory',
      registers: [this.registry],
      collect() {
        this.set(stat('cacheBytes'));
      },
    });
    const db = deps.db;
    new Gauge({
      name: 'safelist_exceptions',
      help: 'Exceptions by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db
          .query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM exceptions GROUP BY state')
          .catch(() => []);
        for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'safelist_gate_images',
      help: 'Images known to the container gate, by state (queued, waiting, pass, fail, no-verdict)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db
          .query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM gate_images GROUP BY state')
          .catch(() => []);
        for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'safelist_audit_records',
      help: 'Records in the audit chain',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ n: string | null }>('SELECT max(seq) AS n FROM audit_log').catch(() => []);
        this.set(Number(r?.n ?? 0));
      },
    });
  }

  /** Failed catalog/policy reloads (a replica that may serve stale listings), read from the retrier. */
  private catalogReloadMetrics(reloads: Pick<CatalogReloads, 'failureCounts' | 'pendingCounts'>): void {
    new Counter({
      name: 'safelist_catalog_reload_failures_total',
      help: 'Catalog and policy reloads (after a notification or a reconnect) that failed, by catalog; each is retried',
      labelNames: ['catalog'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [catalog, n] of reloads.failureCounts()) this.inc({ catalog }, n);
      },
    });
    new Gauge({
      name: 'safelist_catalog_reloads_pending',
      help: 'Failed reloads waiting for their retry, by catalog (non-zero: this replica may serve stale listings)',
      labelNames: ['catalog'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [catalog, n] of reloads.pendingCounts()) this.set({ catalog }, n);
      },
    });
  }

  /** Counts one response: called for every request, so it allocates nothing once a combination was seen. */
  countResponse(url: string, method: string, status: number, contentLength: unknown): void {
    const surface = surfaceOf(url, this.ecosystems);
    let t = this.tally.get(surface);
    if (!t) this.tally.set(surface, (t = { byMethod: new Map(), bytes: 0 }));
    let byStatus = t.byMethod.get(method);
    if (!byStatus) t.byMethod.set(method, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    const len = Number(contentLength);
    if (len > 0 && Number.isFinite(len) && method !== 'HEAD') t.bytes += len;
  }

  /** Serves /metrics (responses are counted by the server's Response class). */
  install(app: FastifyInstance): void {
    app.get('/metrics', async (_req, reply) => reply.type(this.registry.contentType).send(await this.registry.metrics()));
  }

  recordJob(job: string, result: 'ok' | 'busy' | 'error', seconds: number): void {
    this.jobRuns.inc({ job, result });
    if (result !== 'busy') this.jobSeconds.observe({ job }, seconds);
  }

  recordSync(ecosystem: string, r: { downloaded: number; bytes: number; failed: unknown[] } | undefined, error?: boolean): void {
    if (error || !r) {
      this.syncRuns.inc({ ecosystem, result: error ? 'error' : 'skipped' });
      return;
    }
    this.syncRuns.inc({ ecosystem, result: r.failed.length ? 'partial' : 'ok' });
    this.syncFiles.inc({ ecosystem, outcome: 'downloaded' }, r.downloaded);
    this.syncFiles.inc({ ecosystem, outcome: 'failed' }, r.failed.length);
    this.syncBytes.inc({ ecosystem }, r.bytes);
  }
}

type Head = OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;

/** A ServerResponse that counts itself in `metrics` once its head is written. */
function countingResponse(metrics: Metrics): typeof ServerResponse {
  return class CountedResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
    override writeHead(statusCode: number, reason?: string | Head, headers?: Head): this {
      super.writeHead(statusCode, reason as string, headers);
      // Headers given to writeHead alone (fastify's way) are not readable back with getHeader.
      const head = typeof reason === 'string' ? headers : reason;
      const length = head && !Array.isArray(head) ? (head['content-length'] ?? head['Content-Length']) : undefined;
      metrics.countResponse(this.req.url ?? '/', this.req.method ?? 'GET', this.statusCode, length ?? this.getHeader('content-length'));
      return this;
    }
  };
}
