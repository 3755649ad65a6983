// Builds Safelist's core from a configuration: state, storage, policy, catalogs and read
// models. The server (main.ts) and every CLI command start from here, so nothing is wired
// twice. close() releases everything in reverse order.
import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { CatalogReloads } from './catalog/reload.js';
import { openDb, type Db } from './state/db.js';
import { openBlobStore } from './storage/open.js';
import type { BlobStore } from './storage/types.js';
import { PolicyStore } from './policy/store.js';
import { grammars } from './ecosystems/grammars.js';
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
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { NpmCatalog } from './ecosystems/npm/catalog.js'; // npm (issue 12)
import { NpmIndex } from './ecosystems/npm/index.js'; // npm (issue 12)

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
  /** npm (issue 12): the catalog and read model of /npm/. */
  npmCatalog: NpmCatalog;
  npm: NpmIndex;
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
  const log = opts.log ?? pino({ level: config.server.logLevel }, pino.destination({ dest: 2, sync: true }));
  const db = await openDb({
    ...(config.database.url ? { url: config.database.url } : {}),
    pglitePath: config.database.pglitePath,
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
    const store = await openBlobStore(config.storage);
    const policies = PolicyStore.empty(config, grammars);
    const pypiCatalog = new PypiCatalog(db, reloads);
    await pypiCatalog.open();
    closers.push(() => pypiCatalog.close());
    const advisories = new AdvisoryStore(db, config.advisories.maxRecordBytes);
    const exceptions = new ExceptionService(
      db,
      config,
      policies,
      // npm: the catalog opened below; triage runs on requests, after it is.
      makeTriage({ policy: () => policies.policy, pypi: pypiCatalog, store, advisories, npm: { package: (n) => npmCatalog.package(n) } }),
    );
    // Exceptions approved through the API join the file rules on every reload.
    policies.addRuleSource(() => exceptions.activeRules());
    // Imported MAL- advisories: they refuse what they match, whatever the other rules allow.
    policies.addRuleSource(() => advisories.malwareRules());
    await policies.reload();
    const ociCatalog = new OciCatalog(db, reloads);
    await ociCatalog.open();
    closers.push(() => ociCatalog.close());
    const pypi = new PypiIndex(pypiCatalog, policies, { maxBytes: config.cache.maxBytes, publicUrl: config.server.publicUrl });
    const condaCatalog = new CondaCatalog(db, reloads);
    await condaCatalog.open();
    closers.push(() => condaCatalog.close());
    // @msgpack/msgpack turns on CEP 16 sharded repodata (repodata_shards.msgpack.zst), which rattler and pixi ask for first.
    const conda = new CondaIndex(condaCatalog, policies, config.conda.channels, {
      maxBytes: config.cache.maxBytes,
      msgpack: { encode: msgpackEncode },
    });
    // npm (issue 12): its catalog and read model, opened like conda's.
    const npmCatalog = new NpmCatalog(db, reloads);
    await npmCatalog.open();
    closers.push(() => npmCatalog.close());
    const npm = new NpmIndex(npmCatalog, policies, { maxBytes: config.cache.maxBytes });
    // After the notification connection comes back, reload what notifications keep fresh.
    // Failures are logged, counted and retried by `reloads`.
    db.onReconnect(() => {
      policies.reloadVia(reloads);
      for (const catalog of [pypiCatalog, condaCatalog, ociCatalog, npmCatalog]) catalog.reloadAllLater();
    });
    if (opts.followChanges) {
      const stop = await policies.follow(db, reloads);
      closers.push(stop);
    }
    const audit = new AuditLog(db, config.audit.anchorStorage ? await openBlobStore(config.audit.anchorStorage) : store);
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
      pypiCatalog,
      pypi,
      condaCatalog,
      conda,
      npmCatalog,
      npm,
      ociCatalog,
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
