// Starts the server process: runtime, HTTP app, the gate worker and the jobs (jobs/: one runner
// for scheduled, triggered and handed-over runs), then stops them in order. Wiring only: no job
// bodies here. On the embedded database it owns the PGlite folder (state/folder-lock.ts).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { durationMs, type Config } from './config/schema.js';
import { Notifier } from './notify/notifier.js';
import { notifyException } from './exceptions/notify.js';
import { Metrics } from './http/metrics.js';
import { registerJobRoutes } from './http/jobs.js';
import { openDownloadLog } from './http/download-log.js';
import { recordImagePackages } from './gate/image-packages.js';
import { openBlobStore } from './storage/open.js';
import { buildApp, type AppDeps } from './http/app.js';
import { openRuntime, type Runtime } from './runtime.js';
import { useProxy } from './upstream/proxy.js';
import { azureProxyOptions } from './config/proxy.js';
import { GateStore } from './gate/store.js';
import { GateWorker } from './gate/worker.js';
import { gateRegistries } from './gate/registry.js';
import type { ReconcileReport } from './gate/reconcile.js';
import { ReportProvider } from './gate/providers/reports.js';
import { DefenderProvider } from './gate/providers/defender.js';
import { ContentsProvider } from './gate/providers/contents.js';
import type { ScanProvider } from './gate/types.js';
import { JobRunner } from './jobs/runner.js';
import { jobs } from './jobs/registry.js';
import { startServerJobs } from './jobs/server-jobs.js';
import { syncJob, syncJobs, type SyncResult } from './jobs/sync.js';
import { gateReconcileJob } from './jobs/maintenance.js';
import { AnchorScheduler } from './audit/anchor.js';
import { startPolicyWatch } from './policy/watch.js';
import { errors } from './errors.js';
import { registerConsole } from './console/app.js';
import { SessionStore } from './console/session.js';
import { sessionIdentityResolver } from './console/roles.js';
import { ConsoleOidc } from './console/oidc.js';
import { stopInOrder } from './shutdown.js';
import { compactHeapAfterLoad } from './catalog/compact-heap.js';
import type { ResourceGraphClient } from '@azure/arm-resourcegraph';
import type { TokenCredential } from '@azure/core-auth';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Runs the sync now (what the schedule does); resolves with each ecosystem's report that ran to its end. */
  syncNow(): Promise<Record<string, SyncResult>>;
  /** Runs one ecosystem's sync now, on its own; resolves with its report (undefined: busy or failed). */
  syncEcosystemNow(id: string): Promise<SyncResult | undefined>;
  /** Runs the gate's reconcile now (what its schedule does). */
  reconcileGateNow(): Promise<ReconcileReport[] | undefined>;
  /** Stops everything in order within server.shutdownGrace; rejects with ShutdownTimeout naming what did not stop. */
  close(): Promise<void>;
}

/** Where a local CLI reaches this server: a wildcard listen address is reached on loopback. */
function handoffUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::' || host === '[::]') return `http://[::1]:${port}`;
  return host.includes(':') && !host.startsWith('[') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

export interface ServerOptions {
  /** Every file about to be sent, by ecosystem (tests watch downloads with it). */
  onServed?: AppDeps['onServed'];
  /** Azure identity for the Defender provider and ACR registries (default DefaultAzureCredential). */
  azureCredential?: TokenCredential;
  /** Extra Azure SDK client options (e.g. tlsOptions for a private CA). */
  azureClientOptions?: { tlsOptions?: { ca?: string } };
}

/**
 * The Resource Graph client the Defender provider asks. The Azure SDKs are loaded here, at start,
 * only when the gate uses Defender: a missing or broken SDK fails the start, not a scan.
 */
async function defenderResourceGraph(config: Config, opts: ServerOptions): Promise<ResourceGraphClient> {
  const [{ ResourceGraphClient }, { DefaultAzureCredential }] = await Promise.all([
    import('@azure/arm-resourcegraph'),
    import('@azure/identity'),
  ]);
  const defenderProxy = azureProxyOptions(config.network.proxy, config.gate.defender.endpoint);
  // No SDK-level retries: 429/5xx go back to the queue, which waits (Retry-After, backoff) without blocking others.
  return new ResourceGraphClient(opts.azureCredential ?? new DefaultAzureCredential(), {
    endpoint: config.gate.defender.endpoint,
    retryOptions: { maxRetries: 0 },
    ...(defenderProxy ? { proxyOptions: defenderProxy } : {}),
    ...opts.azureClientOptions,
  });
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  // Checked before anything opens: a console sign-in without a redirect URI is a configuration error.
  await useProxy(config.network.proxy); // the OpenID discovery below goes out already
  const consoleOidc = ConsoleOidc.fromConfig(config);
  await consoleOidc?.load();
  const runtime = await openRuntime(config, { followChanges: true, holder: 'safelist serve' });
  // Written into the embedded database's lock file once listening: local CLI commands use it
  // to hand their jobs to this server (http/jobs.ts). A new one at every start.
  const localToken = randomBytes(32).toString('base64url');
  const azure = {
    ...(opts.azureCredential ? { credential: opts.azureCredential } : {}),
    ...(opts.azureClientOptions ? { clientOptions: opts.azureClientOptions } : {}),
  };
  const publishTarget = config.publish.target ? await openBlobStore(config.publish.target, config.network.proxy) : undefined;
  // The container gate: webhooks queue pushes, the worker judges them (started below).
  const gateStore = new GateStore(runtime.db, durationMs(config.gate.scanDeadline));
  const gateRegs = await gateRegistries(config.gate, durationMs(config.sync.timeout), { ...azure, proxy: config.network.proxy });
  let gateWorker: GateWorker | undefined;
  const gate = { config: config.gate, auth: runtime.auth, store: gateStore, registries: gateRegs, kick: () => gateWorker?.kick() };
  const metrics = new Metrics({ ecosystems: runtime.ecosystems, db: runtime.db, reloads: runtime.reloads });
  // Who pulled what: recorded off the request path, flushed in batches, flushed at shutdown.
  // (Its failures go to the app's log; a write can only fail once requests came, so after buildApp.)
  const downloads = openDownloadLog(config, runtime.db, metrics, { error: (o, m) => app.log.error(o, m) }, opts);
  const app = await buildApp({
    gate,
    metrics,
    config,
    db: runtime.db,
    store: runtime.store,
    policies: runtime.policies,
    ecosystems: runtime.ecosystems,
    logLevel: config.server.logLevel,
    api: { auth: runtime.auth, exceptions: runtime.exceptions, audit: runtime.audit },
    advisories: runtime.advisories,
    packageRead: config.auth.packageRead,
    ...downloads.hooks,
  });
  const notifier = new Notifier(config, app.log);
  // The audit head is anchored soon after each decision and at shutdown, not only on the schedule.
  const anchors = new AnchorScheduler({ db: runtime.db, audit: runtime.audit, log: app.log });
  const providers: ScanProvider[] = await Promise.all(
    config.gate.providers.map(async (name) =>
      name === 'reports'
        ? new ReportProvider(runtime.db)
        : name === 'contents'
          ? new ContentsProvider(gateRegs, () => runtime.policies.policy, {
              views: config.gate.contents.views,
              record: (digest, packages) => recordImagePackages(runtime.db, digest, packages),
            })
          : new DefenderProvider(await defenderResourceGraph(config, opts), { subscriptions: config.gate.defender.subscriptions }),
    ),
  );
  gateWorker = new GateWorker({
    config: config.gate,
    store: gateStore,
    registries: gateRegs,
    providers,
    policyPath: join(config.policy.allowlistDir, config.gate.policyFile),
    notifier,
    log: app.log,
    publicUrl: config.server.publicUrl,
    anchors,
  });
  // Every job — scheduled, triggered by an event, handed over by a CLI — runs through one runner.
  const runner = new JobRunner(
    {
      runtime,
      config,
      log: app.log,
      gate: { registries: gateRegs, store: gateStore, kick: () => gateWorker?.kick() },
      azure,
      notifier,
      ...(publishTarget ? { publishTarget } : {}),
    },
    metrics,
  );
  registerJobRoutes(app, { runner, jobs, auth: runtime.auth, ...(runtime.db.folderLock ? { localToken } : {}) });
  // The web console at /ui/ (issue 14): the same services and roles as the API.
  await registerConsole(app, {
    runtime,
    config,
    sessions: new SessionStore(runtime.db, durationMs(config.auth.console.sessionTtl), sessionIdentityResolver(config, runtime.auth)),
    oidc: consoleOidc,
    gate: gateStore,
    jobs: runner,
  });
  const serverJobs = startServerJobs(runner, runtime, config, { gate: gateRegs.length > 0, publish: publishTarget !== undefined });
  const stopNotifying = runtime.exceptions.on((event, e) => {
    notifyException(notifier, event, e, config.server.publicUrl);
    if (event === 'exception.approved' || event === 'exception.rejected' || event === 'exception.revoked') anchors.soon();
  });
  // Policy files follow Git without a restart (watch, SIGHUP); every reload is audited and counted there.
  const policyWatch = await startPolicyWatch({
    store: runtime.policies,
    config: config.policy,
    audit: runtime.audit,
    registry: metrics.registry,
    log: app.log,
  });
  const graceMs = durationMs(config.server.shutdownGrace);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= stopInOrder(
      [
        ['the scheduled and triggered jobs', () => serverJobs.stop()],
        ['the gate worker (an image being judged)', () => gateWorker.stop()],
        [
          'the notifications',
          async () => {
            await notifier.drain(2000);
            notifier.stop();
            stopNotifying();
          },
        ],
        ['the policy watch', () => policyWatch.stop()],
        ['the HTTP connections', () => closeHttp(app, graceMs / 2)],
        [() => `the running jobs (${runner.runningJobs().join(', ') || 'none'})`, () => serverJobs.drain()],
        ['the download log (records still buffered)', () => downloads.log.stop()],
        ['the audit anchor of the last records', () => anchors.flush()],
        ['the runtime (database, storage)', () => runtime.close()],
      ],
      graceMs,
      app.log,
    ));
  // The catalogs are loaded: give back the garbage their load left in the old space before serving.
  const compactMs = compactHeapAfterLoad();
  if (compactMs !== undefined) app.log.debug(`heap compacted after the catalog load in ${Math.round(compactMs)} ms`);
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    // Nothing may stay running behind a server that never listened (it would hold the database).
    await close().catch((e: unknown) => app.log.error({ err: e }, 'shutdown after the failed listen'));
    throw listenError(config.server, err);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const url = `http://${config.server.host}:${port}`;
  // The gate works its queue once the server is up (webhooks may already have queued work).
  gateWorker.start();
  if (config.sync.runOnStart) void runner.shared(syncJob, {});
  // Local CLI commands find this server (and the token to hand it their jobs) in the lock file.
  runtime.db.folderLock?.publish({ url: handoffUrl(config.server.host, port), token: localToken });
  return {
    app,
    runtime,
    url,
    syncNow: async () => {
      const o = await runner.shared(syncJob, {});
      const done: Record<string, SyncResult> = {};
      if (o.status !== 'done') return done;
      for (const [id, r] of Object.entries(o.result)) if (r.status === 'done') done[id] = r.result as SyncResult;
      return done;
    },
    syncEcosystemNow: async (id) => {
      const job = syncJobs.get(id);
      if (!job) throw errors.badRequest(`no ecosystem "${id}" syncs; those that do: ${[...syncJobs.keys()].join(', ')}`);
      const o = await runner.shared(job, {});
      return o.status === 'done' ? o.result : undefined;
    },
    reconcileGateNow: async () => {
      const o = await runner.shared(gateReconcileJob, {});
      return o.status === 'done' ? o.result : undefined;
    },
    close,
  };
}

/**
 * Drains in-flight requests, but never waits out an idle keep-alive or a stalled client
 * (fastify's keepAliveTimeout is 72 s): after `ms`, the connections still open are cut.
 */
async function closeHttp(app: FastifyInstance, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      app.log.warn('shutdown: closing connections that did not finish within half the grace period');
      app.server.closeAllConnections();
      resolve();
    }, ms);
  });
  await Promise.race([app.close(), forced]);
  clearTimeout(timer);
}

/** What to do about an address the server cannot listen on, in words (and the key to change). */
function listenError(server: Config['server'], err: unknown): Error {
  const code = (err as { code?: string }).code;
  const where = `${server.host}:${server.port}`;
  const why =
    code === 'EADDRINUSE'
      ? 'the port is already in use (another Safelist, or another program); stop it, or choose another port with server.port in the config (SAFELIST_SERVER__PORT)'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges); choose a port above 1023 with server.port'
        : code === 'EADDRNOTAVAIL'
          ? 'this machine has no such address; check server.host'
          : (err as Error).message;
  return errors.listenFailed(`cannot listen on ${where}: ${why}`);
}
