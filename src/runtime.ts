// Builds Safelist's core from a configuration: state, storage, policy, catalogs and read
// models. The server (main.ts) and every CLI command start from here, so nothing is wired
// twice. close() releases everything in reverse order.
import type { Config } from './config/schema.js';
import { openDb, type Db } from './state/db.js';
import { openBlobStore } from './storage/open.js';
import type { BlobStore } from './storage/types.js';
import { PolicyStore } from './policy/store.js';
import { PypiCatalog } from './ecosystems/pypi/catalog.js';
import { PypiIndex } from './ecosystems/pypi/index.js';
import { CondaCatalog } from './ecosystems/conda/catalog.js';
import { CondaIndex } from './ecosystems/conda/index.js';

export interface Runtime {
  config: Config;
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  pypiCatalog: PypiCatalog;
  pypi: PypiIndex;
  condaCatalog: CondaCatalog;
  conda: CondaIndex;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, opts: { followChanges?: boolean } = {}): Promise<Runtime> {
  const db = await openDb({ ...(config.database.url ? { url: config.database.url } : {}), pglitePath: config.database.pglitePath });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  try {
    const store = await openBlobStore(config.storage);
    const policies = PolicyStore.empty(config);
    await policies.reload();
    const pypiCatalog = new PypiCatalog(db);
    await pypiCatalog.open();
    closers.push(() => pypiCatalog.close());
    const pypi = new PypiIndex(pypiCatalog, policies, { maxBytes: config.cache.maxBytes });
    const condaCatalog = new CondaCatalog(db);
    await condaCatalog.open();
    closers.push(() => condaCatalog.close());
    const conda = new CondaIndex(condaCatalog, policies, config.conda.channels, { maxBytes: config.cache.maxBytes });
    if (opts.followChanges) {
      const stop = await policies.follow(db, () => undefined);
      closers.push(stop);
    }
    return {
      config, db, store, policies, pypiCatalog, pypi, condaCatalog, conda,
      async close() {
        for (const c of closers.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    throw err;
  }
}
