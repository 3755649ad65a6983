// Starts the server process: runtime, HTTP app, and the scheduled sync (node-cron). The sync
// never runs twice at once in one process; across replicas a PostgreSQL advisory lock elects
// the one that runs it.
import cron from 'node-cron';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { buildApp, type AppDeps } from './http/app.js';
import { openRuntime, type Runtime } from './runtime.js';
import { runPypiSync, type SyncReport } from './sync/pypi-sync.js';
import { runCondaSync } from './sync/conda-sync.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Runs the sync now (what the schedule does); resolves with its report. */
  syncNow(): Promise<SyncReport | undefined>;
  close(): Promise<void>;
}

export async function startServer(config: Config, opts: { onServed?: AppDeps['onServed']; onCondaServed?: AppDeps['onCondaServed'] } = {}): Promise<RunningServer> {
  const runtime = await openRuntime(config, { followChanges: true });
  const app = await buildApp({
    db: runtime.db, store: runtime.store, policies: runtime.policies, pypi: runtime.pypi, conda: runtime.conda, condaGzip: config.conda.gzip, logLevel: config.server.logLevel,
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
        if (r) app.log.info({ downloaded: r.downloaded, bytes: r.bytes, failed: r.failed.length }, 'sync finished');
        // conda channels next, under their own lock (another replica may hold it).
        const c = await runtime.db.tryWithLock('sync:conda', () =>
          runCondaSync({ config, policy: runtime.policies.policy, catalog: runtime.condaCatalog, store: runtime.store, db: runtime.db }, {
            onEvent: (e) => {
              if (e.type === 'failed') app.log.warn({ file: e.filename, error: e.error }, 'conda sync: failed');
              if (e.type === 'warning') app.log.warn(e.message);
            },
          }),
        );
        if (c) app.log.info({ downloaded: c.downloaded, bytes: c.bytes, failed: c.failed.length }, 'conda sync finished');
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
  const task = config.sync.schedule ? cron.schedule(config.sync.schedule, () => void syncNow()) : undefined;
  await app.listen({ host: config.server.host, port: config.server.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const url = `http://${config.server.host}:${port}`;
  if (config.sync.runOnStart) void syncNow();
  return {
    app,
    runtime,
    url,
    syncNow,
    async close() {
      await task?.stop();
      await app.close();
      await running;
      await runtime.close();
    },
  };
}
