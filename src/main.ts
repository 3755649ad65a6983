// Process entry for `npm start` and the container image: load config, serve (the same
// lifecycle as `safelist serve`: a failed listen or a stop past the grace exits non-zero).
// tick-shape.js comes first: it must run before anything that could make a full GC (see there).
import './tick-shape.js';
import { ConfigError, loadConfig } from './config/load.js';
import { configSections } from './ecosystems/index.js';
import { PolicyError } from './policy/store.js';
import { serveCommand } from './cli/serve.js';

try {
  const { config } = loadConfig({ sections: configSections });
  process.exitCode = await serveCommand(config);
} catch (err) {
  if (err instanceof ConfigError || err instanceof PolicyError) {
    process.stderr.write(`safelist: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
