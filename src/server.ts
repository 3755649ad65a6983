// Starts the server process: runtime, HTTP app, and the scheduled sync (node-cron). The sync
// never runs twice at once in one process; across replicas a PostgreSQL advisory lock elects
// the one that runs it.
import cron from 'node-cron';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { buildApp, type AppDeps } from './http/app.js';
import { openRuntime, type Runtime } from './runtime.js';
import { runPypiSync, type SyncReport } from './sync/pypi-sync.js';
import { runOciSync, type OciSyncReport } from './sync/oci-sync.js';

const SHUTDOWN_GRACE_MS = 5_000;

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Runs the sync now (what the schedule does); resolves with its report. */
  syncNow(): Promise<SyncReport | undefined>;
  /** Runs the OCI sync now (the schedule runs it after the PyPI sync). */
  syncOciNow(): Promise<OciSyncReport | undefined>;
  close(): Promise<void>;
}

export async function startServer(config: Config, opts: { onServed?: AppDeps['onServed'] } = {}): Promise<RunningServer> {
  const runtime = await openRuntime(config, { followChanges: true });
  const app = await buildApp({ db: runtime.db, store: runtime.store, policies: runtime.policies, pypi: runtime.pypi, oci: runtime.ociCatalog, logLevel: config.server.logLevel, ...(opts.onServed ? { onServed: opts.onServed } : {}) });
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
      .then((r: SyncReport | undefined) => {
        if (r) app.log.info({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length }, 'sync finished');
        return r;
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'sync failed');
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
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
      .then((r) => {
        if (r) app.log.info({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length }, 'oci sync finished');
        return r;
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'oci sync failed');
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
  await app.listen({ host: config.server.host, port: config.server.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const url = `http://${config.server.host}:${port}`;
  if (config.sync.runOnStart) void scheduled();
  return {
    app,
    runtime,
    url,
    syncNow,
    syncOciNow,
    async close() {
      await task?.stop();
      // Drain in-flight requests, but never wait out an idle keep-alive or a stalled client
      // (fastify's keepAliveTimeout is 72 s): after the grace period, connections are cut.
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          app.log.warn('shutdown: closing connections that did not finish within the grace period');
          app.server.closeAllConnections();
          resolve();
        }, SHUTDOWN_GRACE_MS);
      });
      await Promise.race([app.close(), forced]);
      clearTimeout(timer);
      await running;
      await runningOci;
      await runtime.close();
    },
  };
}
