// Starts the server process: runtime, HTTP app, and the scheduled sync (node-cron). The sync
// never runs twice at once in one process; across replicas a PostgreSQL advisory lock elects
// the one that runs it.
import cron from 'node-cron';
import type { FastifyInstance } from 'fastify';
import { durationMs, type AcrTargetConfig, type Config } from './config/schema.js';
import { Notifier } from './exceptions/notify.js';
import { Metrics } from './http/metrics.js';
import { publishStatic } from './publish/static.js';
import { openBlobStore } from './storage/open.js';
import { buildApp, type AppDeps } from './http/app.js';
import { openRuntime, type Runtime } from './runtime.js';
import { startPolicyWatch } from './policy/watch.js';
import { runPypiSync, type SyncReport } from './sync/pypi-sync.js';
import { runCondaSync } from './sync/conda-sync.js';
import { runOciSync, type OciSyncReport } from './sync/oci-sync.js';
import { runAcrTarget } from './ecosystems/oci/acr-target.js';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { join } from 'node:path';
import { GateStore } from './gate/store.js';
import { AnchorScheduler } from './audit/anchor.js';
import { GateWorker } from './gate/worker.js';
import { gateRegistries } from './gate/registry.js';
import { reconcileRegistries, type ReconcileReport } from './gate/reconcile.js';
import { ReportProvider } from './gate/providers/reports.js';
import { DefenderProvider } from './gate/providers/defender.js';
import { ContentsProvider } from './gate/providers/contents.js';
import type { ScanProvider } from './gate/types.js';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { errors } from './errors.js';
import { stopInOrder } from './shutdown.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Runs the sync now (what the schedule does); resolves with its report. */
  syncNow(): Promise<SyncReport | undefined>;
  /** Runs the OCI sync now (the schedule runs it after the PyPI sync). */
  syncOciNow(): Promise<OciSyncReport | undefined>;
  /** Runs the gate's reconcile now (what its schedule does). */
  reconcileGateNow(): Promise<ReconcileReport[] | undefined>;
  /** Stops everything in order within server.shutdownGrace; rejects with ShutdownTimeout naming what did not stop. */
  close(): Promise<void>;
}

export interface ServerOptions {
  onServed?: AppDeps['onServed'];
  onCondaServed?: AppDeps['onCondaServed'];
  /** Azure identity for the Defender provider and ACR registries (default DefaultAzureCredential). */
  azureCredential?: TokenCredential;
  /** Extra Azure SDK client options (e.g. tlsOptions for a private CA). */
  azureClientOptions?: { tlsOptions?: { ca?: string } };
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  const runtime = await openRuntime(config, { followChanges: true });
  // The container gate: webhooks queue pushes, the worker judges them (started below).
  const gateStore = new GateStore(runtime.db, durationMs(config.gate.scanDeadline));
  const gateRegs = gateRegistries(config.gate, durationMs(config.sync.timeout), { ...(opts.azureCredential ? { credential: opts.azureCredential } : {}), ...(opts.azureClientOptions ? { clientOptions: opts.azureClientOptions } : {}) });
  let gateWorker: GateWorker | undefined;
  const gate = { config: config.gate, auth: runtime.auth, store: gateStore, registries: gateRegs, kick: () => gateWorker?.kick() };
  const metrics = new Metrics({ pypi: runtime.pypi, db: runtime.db, reloads: runtime.reloads });
  const app = await buildApp({
    gate, metrics, config, db: runtime.db, store: runtime.store, policies: runtime.policies, pypi: runtime.pypi, oci: runtime.ociCatalog,
    conda: runtime.conda, condaGzip: config.conda.gzip, logLevel: config.server.logLevel,
    api: { auth: runtime.auth, exceptions: runtime.exceptions, audit: runtime.audit }, packageRead: config.auth.packageRead,
    ...(opts.onServed ? { onServed: opts.onServed } : {}),
    ...(opts.onCondaServed ? { onCondaServed: opts.onCondaServed } : {}),
  });
  let running: Promise<SyncReport | undefined> | undefined;
  const syncNow = (): Promise<SyncReport | undefined> => {
    running ??= runtime.db
      .tryWithLock('sync:pypi', () =>
        runPypiSync({ config, policy: runtime.policies.policy, catalog: runtime.pypiCatalog, store: runtime.store }, {
          onEvent: (e) => {
            if (e.type === 'failed') app.log.warn({ file: e.filename, error: e.error }, 'sync: file failed');
            if (e.type === 'warning') app.log.warn(e.message);
          },
        }),
      )
      .then(async (r: SyncReport | undefined) => {
        if (r) {
          app.log.info({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length }, 'sync finished');
          metrics.recordSync('pypi', r);
          await runtime.audit.append({
            actor: 'system',
            action: 'sync.finished',
            subject: 'pypi',
            detail: { downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.map((f) => f.filename), missing: r.missing },
          });
        }
        // conda channels next, under their own lock (another replica may hold it).
        const c = await runtime.db.tryWithLock('sync:conda', () =>
          runCondaSync({ config, policy: runtime.policies.policy, catalog: runtime.condaCatalog, store: runtime.store, db: runtime.db }, {
            onEvent: (e) => {
              if (e.type === 'failed') app.log.warn({ file: e.filename, error: e.error }, 'conda sync: failed');
              if (e.type === 'warning') app.log.warn(e.message);
            },
          }),
        );
        if (c) {
          app.log.info({ downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length }, 'conda sync finished');
          metrics.recordSync('conda', c);
          await runtime.audit.append({ actor: 'system', action: 'sync.finished', subject: 'conda', detail: { downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.map((f) => f.filename) } });
        }
        return r;
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'sync failed');
        metrics.recordSync('pypi', undefined, true);
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  /** The ACR target follows the mirror: what is new or moved since the last import, audited. */
  const importToAcrTarget = async (target: AcrTargetConfig): Promise<void> => {
    const client = new ContainerRegistryManagementClient(opts.azureCredential ?? new DefaultAzureCredential(), target.subscriptionId, { endpoint: target.endpoint, ...opts.azureClientOptions });
    const r = await runtime.db.tryWithLock('oci:acr-import', () =>
      runAcrTarget({ db: runtime.db, catalog: runtime.ociCatalog, policy: runtime.policies.policy, target, upstreams: config.oci.upstreams, client }, {
        onEvent: (e) => {
          if (e.type === 'failed') app.log.warn({ image: e.image, error: e.error }, 'acr import: image failed');
        },
      }),
    );
    if (!r) return;
    for (const p of r.problems) app.log.warn(`acr import: ${p}`);
    if (r.imported.length || r.failed.length) {
      await runtime.audit.append({ actor: 'system', action: 'oci.acr-imported', subject: target.registryName, detail: { imported: r.imported, failed: r.failed, unchanged: r.unchanged } });
    }
    app.log.info({ registry: target.registryName, imported: r.imported.length, unchanged: r.unchanged, failed: r.failed.length }, 'acr import finished');
  };
  let runningOci: Promise<OciSyncReport | undefined> | undefined;
  const syncOciNow = (): Promise<OciSyncReport | undefined> => {
    runningOci ??= runtime.db
      .tryWithLock('sync:oci', () =>
        runOciSync({ config, policy: runtime.policies.policy, catalog: runtime.ociCatalog, store: runtime.store }, {
          onEvent: (e) => {
            if (e.type === 'failed') app.log.warn({ ref: e.filename, error: e.error }, 'oci sync: image failed');
            if (e.type === 'warning') app.log.warn(e.message);
          },
        }),
      )
      .then(async (r) => {
        if (r) {
          app.log.info({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length }, 'oci sync finished');
          metrics.recordSync('oci', r);
          await runtime.audit.append({ actor: 'system', action: 'sync.finished', subject: 'oci', detail: { downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.map((f) => f.filename) } });
          if (config.oci.acrTarget?.afterSync) await importToAcrTarget(config.oci.acrTarget);
        }
        return r;
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'oci sync failed');
        metrics.recordSync('oci', undefined, true);
        return undefined;
      })
      .finally(() => {
        runningOci = undefined;
      });
    return runningOci;
  };
  const scheduled = async () => {
    await syncNow();
    if (config.oci.upstreams.length) await syncOciNow();
  };
  const task = config.sync.schedule ? cron.schedule(config.sync.schedule, () => void scheduled()) : undefined;
  // An approval schedules the sync of what it allows (PyPI: that project), after any run in
  // progress, so the approved version is mirrored without waiting for the next schedule.
  let approvedQueue: Promise<unknown> = Promise.resolve();
  const syncApproved = (names: string[]): Promise<unknown> => {
    approvedQueue = approvedQueue
      .then(() => running)
      .then(() =>
        runtime.db.tryWithLock('sync:pypi', () =>
          runPypiSync({ config, policy: runtime.policies.policy, catalog: runtime.pypiCatalog, store: runtime.store }, { only: names }),
        ),
      )
      .then((r) => r && app.log.info({ projects: names, downloaded: r.downloaded, failed: r.failed.length }, 'sync after approval finished'))
      .catch((err: unknown) => app.log.error({ err, projects: names }, 'sync after approval failed'));
    return approvedQueue;
  };
  const notifier = new Notifier(config, app.log);
  // The audit head is anchored soon after each decision and at shutdown, not only on the schedule.
  const anchors = new AnchorScheduler({ db: runtime.db, audit: runtime.audit, log: app.log });
  const providers: ScanProvider[] = config.gate.providers.map((name) =>
    name === 'reports'
      ? new ReportProvider(runtime.db)
      : name === 'contents'
        ? new ContentsProvider(gateRegs, () => runtime.policies.policy, { views: config.gate.contents.views })
        : new DefenderProvider(
          // No SDK-level retries: 429/5xx go back to the queue, which waits (Retry-After, backoff) without blocking others.
          new ResourceGraphClient(opts.azureCredential ?? new DefaultAzureCredential(), { endpoint: config.gate.defender.endpoint, retryOptions: { maxRetries: 0 }, ...opts.azureClientOptions }),
          { subscriptions: config.gate.defender.subscriptions },
        ),
  );
  gateWorker = new GateWorker({
    config: config.gate, store: gateStore, registries: gateRegs, providers,
    policyPath: join(config.policy.allowlistDir, config.gate.policyFile), notifier, log: app.log, publicUrl: config.server.publicUrl, anchors,
  });
  // A dropped webhook (ACR never retries) still gets a verdict: list the registries on a schedule.
  let reconciling: Promise<ReconcileReport[] | undefined> | undefined;
  const reconcileGateNow = (): Promise<ReconcileReport[] | undefined> =>
    (reconciling ??= runtime.db
      .tryWithLock('gate:reconcile', () => reconcileRegistries(gateRegs, gateStore))
      .then((reports) => {
        for (const r of reports ?? []) {
          if (r.queued.length || r.errors.length) app.log.info({ registry: r.registry, queued: r.queued.length, errors: r.errors }, 'gate: reconcile');
        }
        if (reports?.some((r) => r.queued.length)) gateWorker?.kick();
        return reports;
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'gate: reconcile failed');
        return undefined;
      })
      .finally(() => {
        reconciling = undefined;
      }));
  const reconcileTask = config.gate.reconcileSchedule && gateRegs.length ? cron.schedule(config.gate.reconcileSchedule, () => void reconcileGateNow()) : undefined;
  const stopListening = runtime.exceptions.on((event, e) => {
    notifier.notify(event, e);
    if (event === 'exception.approved' || event === 'exception.rejected' || event === 'exception.revoked') anchors.soon();
    if (event === 'exception.approved' && e.ecosystem === 'pypi' && config.pypi.upstreams.length) void syncApproved([e.name]);
    if (event === 'exception.approved' && e.ecosystem === 'oci' && config.oci.upstreams.length) void syncOciNow();
    if (event === 'exception.approved' && e.ecosystem === 'conda') void syncNow(); // the conda channels sync after PyPI, in the same run
  });
  // And on the schedule, for records that are not decisions (replicas take turns under the lock).
  const anchorTask = config.audit.anchorSchedule ? cron.schedule(config.audit.anchorSchedule, () => anchors.soon()) : undefined;
  // Exceptions past their end leave the policy at once (rules carry their expiry); this job
  // records the state change, tells every replica, and warns of those about to expire.
  const expiryTask = config.exceptions.expirySchedule
    ? cron.schedule(config.exceptions.expirySchedule, () => {
        void runtime.db
          .tryWithLock('exceptions:expiry', async () => {
            await runtime.exceptions.warnExpiring(durationMs(config.exceptions.warnBefore));
            return runtime.exceptions.expireDue();
          })
          .then((expired) => {
            for (const e of expired ?? []) app.log.info({ exception: e.id }, 'exception expired');
          })
          .catch((err: unknown) => app.log.error({ err }, 'exception expiry failed'));
      })
    : undefined;
  // OSV advisories for triage: imported at start and on their schedule, by one replica.
  const importAdvisories = () =>
    runtime.db
      .tryWithLock('advisories:import', async () => {
        for (const src of config.advisories.sources) {
          const r = await runtime.advisories.importFrom(src).catch((err: Error) => {
            app.log.warn({ source: src, error: err.message }, 'advisory import failed');
            return undefined;
          });
          if (r) app.log.info({ source: src, ...r }, 'advisories imported');
        }
      })
      .catch((err: unknown) => app.log.error({ err }, 'advisory import failed'));
  const advisoryTask = config.advisories.sources.length && config.advisories.schedule ? cron.schedule(config.advisories.schedule, () => void importAdvisories()) : undefined;
  const advisoriesAtStart = config.advisories.sources.length ? importAdvisories() : Promise.resolve();
  // Static publish mode: re-render the static tree after policy or catalog changes (debounced;
  // one replica at a time).
  let publishTimer: NodeJS.Timeout | undefined;
  let publishing: Promise<unknown> = Promise.resolve();
  const publishTarget = config.publish.target ? await openBlobStore(config.publish.target) : undefined;
  const schedulePublish = () => {
    if (!publishTarget) return;
    clearTimeout(publishTimer);
    publishTimer = setTimeout(() => {
      publishing = publishing
        .then(() => runtime.db.tryWithLock('publish', () => publishStatic({ policy: runtime.policies.policy, pypi: runtime.pypi, catalog: runtime.pypiCatalog, conda: runtime.conda, source: runtime.store, target: publishTarget }, config.publish.views ? { views: config.publish.views } : {})))
        .then((r) => r && app.log.info(r, 'static tree published'))
        .catch((err: unknown) => app.log.error({ err }, 'static publish failed'));
    }, durationMs(config.publish.debounce));
    publishTimer.unref();
  };
  const stopPublishOnPolicy = runtime.policies.onChange(() => schedulePublish());
  const stopPublishOnCatalog = runtime.pypiCatalog.onChange(() => schedulePublish());
  const stopPublishOnConda = runtime.condaCatalog.onChange(() => schedulePublish());
  schedulePublish();
  // Policy files follow Git without a restart (watch, SIGHUP); every reload is audited and counted there.
  const policyWatch = await startPolicyWatch({ store: runtime.policies, config: config.policy, audit: runtime.audit, registry: metrics.registry, log: app.log });
  const graceMs = durationMs(config.server.shutdownGrace);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= stopInOrder([
      ['the schedules', async () => {
        for (const t of [task, reconcileTask, anchorTask, expiryTask, advisoryTask]) await t?.stop();
      }],
      ['the advisory import started at start', () => advisoriesAtStart],
      ['the listeners', () => {
        stopListening();
        stopPublishOnPolicy();
        stopPublishOnCatalog();
        stopPublishOnConda();
        clearTimeout(publishTimer);
      }],
      ['the static publish', () => publishing],
      ['the gate worker (an image being judged)', () => gateWorker.stop()],
      ['the gate reconcile', () => reconciling],
      ['the notifications', async () => {
        await notifier.drain(2000);
        notifier.stop();
      }],
      ['the sync after an approval', () => approvedQueue],
      ['the policy watch', () => policyWatch.stop()],
      ['the HTTP connections', () => closeHttp(app, graceMs / 2)],
      ['the PyPI and conda sync', () => running],
      ['the OCI sync', () => runningOci],
      ['the audit anchor of the last records', () => anchors.flush()],
      ['the runtime (database, storage)', () => runtime.close()],
    ], graceMs, app.log));
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
  if (config.sync.runOnStart) void scheduled();
  return {
    app,
    runtime,
    url,
    syncNow,
    syncOciNow,
    reconcileGateNow,
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
