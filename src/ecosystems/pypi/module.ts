// The PyPI ecosystem behind the EcosystemModule seam: PEP 440 grammar, the project catalog and
// its simple-index read model, /pypi/{view}/ routes, the sync from PEP 503/691 upstreams, the
// folder importer, static publish, triage and the installability check, and the matcher of
// installed distributions in images. Wiring only: each role's code is in its own file here.
// It must never be reached by name from outside (the registry in ../index.ts lists it).
import type { EcosystemModule, ExplainedVersion, InstallQuery, OpenContext, OpenEcosystem } from '../types.js';
import { PypiCatalog } from './catalog.js';
import { pypiContents } from './contents.js';
import { pypiConfig } from './config.js';
import { pypiGrammar } from './grammar.js';
import { migrations } from './migrations.js';
import { pypiOnboarding } from './onboarding.js';
import { importPypiDir, pypiImportSpec } from './importer.js';
import { PypiIndex } from './index.js';
import { checkPypiInstallability } from './installability.js';
import { normalizeProjectName, parseDistFilename } from './names.js';
import { publishPypiView } from './publish.js';
import { registerPypiRoutes } from './routes.js';
import { pypiSyncSpec, runPypiSync } from './sync.js';
import { triagePypi } from './triage.js';

/** What a runtime holds of PyPI (its catalog and read model, typed). */
export interface OpenPypi extends OpenEcosystem {
  readonly catalog: PypiCatalog;
  readonly readModel: PypiIndex;
}

/** Does a file name in a sync report (or its "project/" entry for a project that failed whole) belong to this name? */
function fileOf(name: string, filename: string): boolean {
  if (filename.endsWith('/')) return normalizeProjectName(filename.slice(0, -1)) === name;
  const parsed = parseDistFilename(filename);
  return parsed !== undefined && normalizeProjectName(parsed.name) === name;
}

export const pypi: EcosystemModule = {
  id: 'pypi',
  label: 'PyPI',
  grammar: pypiGrammar,
  config: pypiConfig,
  migrations,
  names: { osv: 'PyPI', item: 'file', fileOf, claims: (name) => !name.includes('/') },
  surface: { prefix: '/pypi/', tokenHint: 'pip https://user:TOKEN@host/pypi/VIEW/simple/' },
  sync: pypiSyncSpec,
  importer: pypiImportSpec,
  contents: pypiContents,
  onboarding: pypiOnboarding,
  installSnippet,
  open: openPypi,
};

/** pip with Safelist's view as its only index (the index URL onboarding gives pip.conf). */
function installSnippet(q: InstallQuery): string {
  const index = `${q.base.replace(/\/$/, '')}/pypi/${q.view}/simple/`;
  return `pip install --index-url ${index} "${q.name}${q.version ? `==${q.version}` : ''}"`;
}

async function openPypi(ctx: OpenContext): Promise<OpenPypi> {
  const { config, store } = ctx;
  const catalog = new PypiCatalog(ctx.db, ctx.reloads);
  await catalog.open();
  const index = new PypiIndex(catalog, ctx.policies, { maxBytes: config.cache.maxBytes, publicUrl: config.server.publicUrl });
  return {
    module: pypi,
    catalog,
    readModel: index,
    routes: (app, deps) =>
      registerPypiRoutes(app, {
        index,
        store: deps.store,
        onServed: (e) => deps.onServed?.({ ...e, download: !e.metadata }),
        ...(deps.onBlocked ? { onBlocked: deps.onBlocked } : {}),
      }),
    explain(name, view) {
      // One entry per version: decided by its first file, stored when any of its files is.
      const byVersion = new Map<string, ExplainedVersion>();
      for (const f of catalog.project(name)?.files ?? []) {
        const seen = byVersion.get(f.version);
        if (seen) seen.stored ||= f.stored;
        else
          byVersion.set(f.version, {
            label: f.version,
            version: f.version,
            range: `==${f.version}`,
            stored: f.stored,
            decision: index.decideFile(f, view),
          });
      }
      // Only a name some rule allows can be refused as a whole page (rendering it is not free).
      const pageRefusal = ctx.policies.policy.activeRules(pypi.id, name, view).length ? index.pageRefusal(view, name) : undefined;
      return { consulted: true, versions: [...byVersion.values()], ...(pageRefusal ? { pageRefusal } : {}) };
    },
    catalogNames: () => catalog.projectNames(),
    sync: (params, run) =>
      runPypiSync(
        { config: run.config, policy: run.policy, catalog, store },
        {
          dryRun: params.dryRun ?? false,
          onEvent: run.emit,
          signal: run.signal,
          ...(params.projects ? { only: params.projects as string[] } : {}),
        },
      ),
    import: (params, run) =>
      importPypiDir(params.dir, { store, catalog, onProgress: (line) => run.emit({ type: 'line', line }), signal: run.signal }),
    publish: (view, out) => publishPypiView(index, catalog, view, out),
    triage: (q) => triagePypi(catalog, store, q),
    async check(views, policy) {
      const unmet = await checkPypiInstallability(index, catalog, store, policy, views);
      const offered = views.filter((view) =>
        [...catalog.projectNames()].some((name) => catalog.project(name)!.files.some((f) => f.stored && index.decideFile(f, view).allowed)),
      );
      return {
        problems: unmet.map((p) => ({
          view: p.view,
          text: `pypi: ${p.project} ${p.version} requires "${p.requirement}": ${p.reason}`,
          detail: { ...p },
        })),
        offered,
        hasRecords: catalog.size > 0,
      };
    },
    stats() {
      const s = index.cacheStats();
      return { cacheHits: s.hits, cacheMisses: s.misses, cacheBytes: s.bytes };
    },
  };
}

/** The PyPI part of a runtime, typed (for code and tests that work with PyPI itself). */
export function openedPypi(rt: { ecosystems: ReadonlyMap<string, OpenEcosystem> }): OpenPypi {
  const o = rt.ecosystems.get(pypi.id);
  if (!o) throw new Error('the runtime has no PyPI ecosystem');
  return o as OpenPypi;
}
