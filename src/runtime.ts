// Builds Safelist's core from a configuration: state, storage, policy, catalogs and read
// models. The server (main.ts) and every CLI command start from here, so nothing is wired
// twice. close() releases everything in reverse order.
import pino, { type Logger } from 'pino';
import { durationMs, type Config } from './config/schema.js';
import { CatalogReloads } from './catalog/reload.js';
import type { Db } from './state/db.js';
import { openBlobStore } from './storage/open.js';
import type { BlobStore } from './storage/types.js';
import { PolicyStore } from './policy/store.js';
import { ecosystems as modules, grammars, openStateDb } from './ecosystems/index.js';
import type { OpenEcosystem } from './ecosystems/types.js';
import { AuditLog } from './audit/log.js';
import { Authenticator } from './auth/identity.js';
import { ExceptionService } from './exceptions/service.js';
import { makeTriage } from './exceptions/triage.js';
import { AdvisoryStore } from './exceptions/advisories.js';
import { useProxy } from './upstream/proxy.js';

export interface Runtime {
  config: Config;
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  /** Every registered ecosystem, opened (catalog, read model and the roles that need them), by id. */
  ecosystems: ReadonlyMap<string, OpenEcosystem>;
  audit: AuditLog;
  exceptions: ExceptionService;
  advisories: AdvisoryStore;
  auth: Authenticator;
  /** Retries (and counts, for /metrics) catalog and policy reloads that failed. */
  reloads: CatalogReloads;
  log: Logger;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  followChanges?: boolean;
  /** Who opens the embedded database folder (named in the lock file and in refusals). */
  holder?: string;
  /** Where the core logs (default: JSON lines on stderr, so a command's stdout stays its output). */
  log?: Logger;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  // Before anything calls out: every upstream, webhook and key fetch goes where network.proxy says.
  await useProxy(config.network.proxy);
  const log = opts.log ?? pino({ level: config.server.logLevel }, pino.destination({ dest: 2, sync: true }));
  const db = await openStateDb({
    ...(config.database.url ? { url: config.database.url } : {}),
    pglitePath: config.database.pglitePath,
    pgliteSettings: config.database.pgliteSettings,
    ...(config.database.pgliteTemplate ? { pgliteTemplate: config.database.pgliteTemplate } : {}),
    poolSize: config.database.poolSize,
    connectionTimeoutMs: durationMs(config.database.connectionTimeout),
    lockHeartbeatMs: durationMs(config.database.lockHeartbeat),
    ...(opts.holder ? { holder: opts.holder } : {}),
  });
  const reloads = new CatalogReloads(log);
  const closers: Array<() => Promise<void>> = [() => db.close()];
  const closeAll = async () => {
    reloads.close(); // first: no retry starts on a closing database
    for (const c of [...closers].reverse()) {
      await c().catch((err: unknown) => log.error({ err }, 'runtime: releasing a resource failed'));
    }
  };
  try {
    const store = await openBlobStore(config.storage, config.network.proxy);
    const policies = PolicyStore.empty(config, grammars);
    const ecosystems = new Map<string, OpenEcosystem>();
    const advisories = new AdvisoryStore(db, config.advisories.maxRecordBytes);
    const exceptions = new ExceptionService(db, config, policies, makeTriage({ policy: () => policies.policy, ecosystems, advisories }));
    // Exceptions approved through the API join the file rules on every reload.
    policies.addRuleSource(() => exceptions.activeRules());
    // Imported MAL- advisories: they refuse what they match, whatever the other rules allow.
    policies.addRuleSource(() => advisories.malwareRules());
    await policies.reload();
    for (const m of modules.values()) {
      const opened = await m.open({ config, db, store, policies, reloads });
      ecosystems.set(m.id, opened);
      closers.push(() => opened.catalog.close());
    }
    // After the notification connection comes back, reload what notifications keep fresh.
    // Failures are logged, counted and retried by `reloads`.
    db.onReconnect(() => {
      policies.reloadVia(reloads);
      for (const e of ecosystems.values()) e.catalog.reloadAllLater();
    });
    if (opts.followChanges) {
      const stop = await policies.follow(db, reloads);
      closers.push(stop);
    }
    const audit = new AuditLog(
      db,
      config.audit.anchorStorage ? await openBlobStore(config.audit.anchorStorage, config.network.proxy) : store,
    );
    const auth = new Authenticator(config.auth, {
      onKeysFetchError: (err) =>
        log.warn(
          { err },
          'auth: the Entra signing keys (JWKS) could not be fetched; the last good keys stay in use up to auth.entra.jwksMaxStale',
        ),
    });
    return {
      config,
      db,
      store,
      policies,
      ecosystems,
      audit,
      exceptions,
      advisories,
      auth,
      reloads,
      log,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
