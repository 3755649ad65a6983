// `safelist serve`: the server with its scheduled jobs.
import type { Config } from '../config/schema.js';
import { startServer } from '../server.js';

export async function serveCommand(config: Config): Promise<number> {
  const server = await startServer(config);
  await new Promise<void>((resolve) => {
    const stop = () => {
      void server.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
