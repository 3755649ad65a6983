// `safelist serve`: the server with its scheduled jobs, owning the process's lifecycle.
// It must never keep running after it failed to listen (it would hold the database), and never
// outlive server.shutdownGrace after SIGTERM/SIGINT: then it exits non-zero, saying what did not stop.
import { durationMs, type Config } from '../config/schema.js';
import { SafelistError } from '../errors.js';
import { startServer, type RunningServer } from '../server.js';
import { ShutdownTimeout } from '../shutdown.js';

export async function serveCommand(config: Config): Promise<number> {
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (err) {
    if (!(err instanceof SafelistError && err.code === 'LISTEN_FAILED')) throw err;
    process.stderr.write(`safelist: ${err.message}\n`);
    process.exit(2); // at once: what startServer opened is closed, and nothing may linger
  }
  server.app.log.info(
    `Safelist listening on ${server.url} (storage ${config.storage.kind}, database ${config.database.url ? 'postgresql' : 'pglite'})`,
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const graceMs = durationMs(config.server.shutdownGrace);
  const deadline = Date.now() + graceMs;
  const again = (s: NodeJS.Signals) => {
    server.app.log.error(`shutdown: ${s} received while stopping; exiting now`);
    process.exit(1);
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  server.app.log.info(`shutdown: ${signal} received; stopping within ${graceMs} ms`);
  try {
    await server.close();
  } catch (err) {
    server.app.log.error(
      `shutdown: ${err instanceof ShutdownTimeout ? err.message : `failed: ${(err as Error).stack ?? String(err)}`}; exiting`,
    );
    process.exit(1);
  }
  // Everything is stopped, so the event loop should be empty and the process end now. If
  // something still holds it, exit anyway when the grace is over, naming what it was.
  setTimeout(
    () => {
      server.app.log.error(`shutdown: stopped, but the process is still held by ${process.getActiveResourcesInfo().join(', ')}; exiting`);
      process.exit(1);
    },
    Math.max(0, deadline - Date.now()),
  ).unref();
  server.app.log.info('shutdown: stopped');
  return 0;
}
