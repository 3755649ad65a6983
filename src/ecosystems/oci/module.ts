// The OCI ecosystem (mirrored container images) behind the EcosystemModule seam: tag-pattern
// grammar, the image catalog and its per-view read model, the /v2/ distribution read API (with
// its own error dialect), the registry sync (and the ACR import that may follow it). No importer
// and no static publish: images are pulled through the registry API only. It must never be
// reached by name from outside (the registry in ../index.ts lists it).
import type { EcosystemModule, InstallQuery, OpenContext, OpenEcosystem } from '../types.js';
import { acrImportSpec, runAcrImport } from './acr-job.js';
import { OciCatalog } from './catalog.js';
import { ociConfig } from './config.js';
import { ociGrammar } from './grammar.js';
import { migrations } from './migrations.js';
import { ociOnboarding } from './onboarding.js';
import { OciIndex } from './index.js';
import { isOciPath, ociViewOf, registerOciRoutes, sendOciError } from './routes.js';
import { ociSyncSpec, runOciSync } from './sync.js';

/** What a runtime holds of OCI (its catalog and read model, typed). */
export interface OpenOci extends OpenEcosystem {
  readonly catalog: OciCatalog;
  readonly readModel: OciIndex;
}

/** A sync report names a tag `name:tag`, a digest `name@sha256:…`, or the image itself. */
function fileOf(name: string, filename: string): boolean {
  return filename === name || filename.startsWith(`${name}:`) || filename.startsWith(`${name}@`);
}

export const oci: EcosystemModule = {
  id: 'oci',
  label: 'OCI images',
  grammar: ociGrammar,
  config: ociConfig,
  migrations,
  // An image name has a slash; no repository component starts with '@' (that is a scoped npm name).
  names: { item: 'tag', fileOf, claims: (name) => name.includes('/') && !name.startsWith('@') },
  surface: {
    prefix: '/v2/',
    tokenHint: 'docker login with the token as password',
    matches: isOciPath,
    viewOf: ociViewOf,
    sendError: sendOciError,
  },
  sync: ociSyncSpec,
  jobs: [acrImportSpec],
  onboarding: ociOnboarding,
  installSnippet,
  // Image names start with a configured upstream's short name; anything else could never sync.
  lintRule(rule, config) {
    const registries = new Set(ociConfig.of(config).upstreams.map((u) => u.name));
    const registry = rule.name.split('/')[0]!;
    if (registries.has(registry)) return undefined;
    return `"${registry}" is not a configured oci upstream (oci.upstreams: ${[...registries].join(', ') || 'none'})`;
  },
  open: openOci,
};

/** docker pull from Safelist's registry host; a view other than default is a path prefix (as onboarding says). */
function installSnippet(q: InstallQuery): string {
  const host = new URL(q.base).host;
  return `docker pull ${q.view === 'default' ? host : `${host}/views/${q.view}`}/${q.name}:${q.version ?? 'latest'}`;
}

async function openOci(ctx: OpenContext): Promise<OpenOci> {
  const { store } = ctx;
  const catalog = new OciCatalog(ctx.db, ctx.reloads);
  await catalog.open();
  const index = new OciIndex(catalog, ctx.policies);
  return {
    module: oci,
    catalog,
    readModel: index,
    images: catalog,
    routes: (app, deps) =>
      registerOciRoutes(app, {
        catalog,
        policies: deps.policies,
        store: deps.store,
        // version: the tag asked for, or the digest when pulled by digest.
        onServed: (e) => deps.onServed?.({ ...e, filename: e.version, download: true }),
        ...(deps.onBlocked ? { onBlocked: deps.onBlocked } : {}),
      }),
    explain: (name, view) => index.explain(name, view),
    catalogNames: () => catalog.imageNames(),
    runJob: async (name, params, run) => {
      if (name !== acrImportSpec.name) throw new Error(`the OCI ecosystem has no job "${name}"`);
      return runAcrImport(catalog, ctx.db, params, run);
    },
    sync: (params, run) =>
      runOciSync(
        { config: run.config, policy: run.policy, catalog, store },
        {
          dryRun: params.dryRun ?? false,
          onEvent: run.emit,
          signal: run.signal,
          ...(params.images ? { only: params.images as string[] } : {}),
        },
      ),
  };
}

/** The OCI part of a runtime, typed (for code and tests that work with images themselves). */
export function openedOci(rt: { ecosystems: ReadonlyMap<string, OpenEcosystem> }): OpenOci {
  const o = rt.ecosystems.get(oci.id);
  if (!o) throw new Error('the runtime has no OCI ecosystem');
  return o as OpenOci;
}
