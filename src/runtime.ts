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
import { AuditLog } from './audit/log.js';
import { Authenticator } from './auth/identity.js';
import { ExceptionService } from './exceptions/service.js';
import { makeTriage } from './exceptions/triage.js';
import { AdvisoryStore } from './exceptions/advisories.js';
import { OciCatalog } from './ecosystems/oci/catalog.js';
import { CondaCatalog } from './ecosystems/conda/catalog.js';
import { CondaIndex } from './ecosystems/conda/index.js';

export interface Runtime {
  config: Config;
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  pypiCatalog: PypiCatalog;
  pypi: PypiIndex;
  audit: AuditLog;
  exceptions: ExceptionService;
  advisories: AdvisoryStore;
  auth: Authenticator;
  ociCatalog: OciCatalog;
  condaCatalog: CondaCatalog;
  conda: CondaIndex;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, opts: { followChanges?: boolean; holder?: string } = {}): Promise<Runtime> {
  const db = await openDb({ ...(config.database.url ? { url: config.database.url } : {}), pglitePath: config.database.pglitePath, ...(opts.holder ? { holder: opts.holder } : {}) });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  try {
    const store = await openBlobStore(config.storage);
    const policies = PolicyStore.empty(config);
    const pypiCatalog = new PypiCatalog(db);
    await pypiCatalog.open();
    closers.push(() => pypiCatalog.close());
    const advisories = new AdvisoryStore(db);
    const exceptions = new ExceptionService(db, config, policies, makeTriage({ policy: () => policies.policy, pypi: pypiCatalog, store, advisories }));
    // Exceptions approved through the API join the file rules on every reload.
    policies.addRuleSource(() => exceptions.activeRules());
    await policies.reload();
    const ociCatalog = new OciCatalog(db);
    await ociCatalog.open();
    closers.push(() => ociCatalog.close());
    const pypi = new PypiIndex(pypiCatalog, policies, { maxBytes: config.cache.maxBytes });
    const condaCatalog = new CondaCatalog(db);
    await condaCatalog.open();
    closers.push(() => condaCatalog.close());
    const conda = new CondaIndex(condaCatalog, policies, config.conda.channels, { maxBytes: config.cache.maxBytes });
    // After the notification connection comes back, reload what notifications keep fresh.
    db.onReconnect(() => {
      void policies.reload().catch(() => undefined);
      void pypiCatalog.reloadAll().catch(() => undefined);
      void condaCatalog.reloadAll().catch(() => undefined);
      void ociCatalog.reloadAll().catch(() => undefined);
    });
    if (opts.followChanges) {
      const stop = await policies.follow(db, () => undefined);
      closers.push(stop);
    }
    const audit = new AuditLog(db, store);
    const auth = new Authenticator(config.auth);
    return {
      config, db, store, policies, pypiCatalog, pypi, condaCatalog, conda, ociCatalog, audit, exceptions, advisories, auth,
      async close() {
        for (const c of closers.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    throw err;
  }
}
