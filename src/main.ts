// Process entry for `npm start` and the container image: load config, serve.
import { ConfigError, loadConfig } from './config/load.js';
import { PolicyError } from './policy/store.js';
import { startServer } from './server.js';

try {
  const { config } = loadConfig();
  const server = await startServer(config);
  server.app.log.info(`Safelist listening on ${server.url} (storage ${config.storage.kind}, database ${config.database.url ? 'postgresql' : 'pglite'})`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  if (err instanceof ConfigError || err instanceof PolicyError) {
    process.stderr.write(`safelist: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
