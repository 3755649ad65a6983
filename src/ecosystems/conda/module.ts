// The conda ecosystem behind the EcosystemModule seam: MatchSpec grammar, the per-channel/subdir
// catalog and its repodata read model, /conda/{view}/ routes, the channel sync, the folder
// importer, static publish, the installability check, and the conda-meta matcher of images.
// Wiring only: each role's code is in its own file here. It must never be reached by name from
// outside (the registry in ../index.ts lists it).
import { encode as msgpackEncode } from '@msgpack/msgpack';
import type { EcosystemModule, InstallQuery, OpenContext, OpenEcosystem } from '../types.js';
import { CondaCatalog } from './catalog.js';
import { condaContents } from './contents.js';
import { condaConfig } from './config.js';
import { condaGrammar } from './grammar.js';
import { migrations } from './migrations.js';
import { condaOnboarding } from './onboarding.js';
import { condaImportSpec, importCondaDir } from './importer.js';
import { CondaIndex } from './index.js';
import { checkCondaInstallability } from './installability.js';
import { publishCondaView } from './publish.js';
import { registerCondaRoutes } from './routes.js';
import { condaSyncSpec, runCondaSync } from './sync.js';

/** What a runtime holds of conda (its catalog and read model, typed). */
export interface OpenConda extends OpenEcosystem {
  readonly catalog: CondaCatalog;
  readonly readModel: CondaIndex;
}

/** A sync report's file name `name-version-build.ext` belongs to `name` (which may itself hold dashes). */
function fileOf(name: string, filename: string): boolean {
  return (
    filename
      .replace(/\.(conda|tar\.bz2)$/, '')
      .split('-')
      .slice(0, -2)
      .join('-') === name
  );
}

export const conda: EcosystemModule = {
  id: 'conda',
  label: 'conda',
  grammar: condaGrammar,
  config: condaConfig,
  migrations,
  // OSV has no conda ecosystem of its own; advisory files written for conda name it so.
  names: { osv: 'conda', item: 'file', fileOf },
  surface: { prefix: '/conda/', tokenHint: 'conda https://host/t/TOKEN/conda/VIEW' },
  sync: condaSyncSpec,
  importer: condaImportSpec,
  contents: condaContents,
  onboarding: condaOnboarding,
  installSnippet,
  // A rule for a channel Safelist does not mirror allows nothing: almost always a typo.
  lintRule(rule, config) {
    const channels = new Set(condaConfig.of(config).channels.flatMap((c) => [c.name, ...c.alias]));
    if (rule.channel === undefined || channels.has(rule.channel)) return undefined;
    return `channel "${rule.channel}" is not configured (conda.channels: ${[...channels].join(', ') || 'none'}); this entry allows nothing`;
  },
  open: openConda,
};

/** conda with the view's first configured channel through Safelist's channel alias, and no other channel. */
function installSnippet(q: InstallQuery): string {
  const channel = condaConfig.of(q.config).channels[0]?.name ?? 'conda-forge';
  const alias = `${q.base.replace(/\/$/, '')}/conda/${q.view}`;
  return `conda install --override-channels -c ${alias}/${channel} "${q.name}${q.version ? `==${q.version}` : ''}"`;
}

async function openConda(ctx: OpenContext): Promise<OpenConda> {
  const { config, store, db } = ctx;
  const catalog = new CondaCatalog(db, ctx.reloads);
  await catalog.open();
  // @msgpack/msgpack turns on CEP 16 sharded repodata (repodata_shards.msgpack.zst), which rattler and pixi ask for first.
  const index = new CondaIndex(catalog, ctx.policies, condaConfig.of(config).channels, {
    maxBytes: config.cache.maxBytes,
    msgpack: { encode: msgpackEncode },
  });
  return {
    module: conda,
    catalog,
    readModel: index,
    routes: (app, deps) =>
      registerCondaRoutes(app, {
        index,
        store: deps.store,
        gzip: condaConfig.of(ctx.config).gzip,
        onServed: (e) => deps.onServed?.({ ...e, download: true }),
        ...(deps.onBlocked ? { onBlocked: deps.onBlocked } : {}),
      }),
    explain(name, view) {
      const versions = [];
      for (const channel of index.channels) {
        for (const p of index.packagesNamed(channel.name, name)) {
          versions.push({
            label: `${p.version} ${p.build} (${channel.name}/${p.subdir})`,
            version: p.version,
            range: `==${p.version}`,
            stored: p.stored,
            decision: index.decidePackage(p, view),
          });
        }
      }
      return { consulted: true, versions };
    },
    *catalogNames() {
      for (const s of catalog.all()) for (const p of s.packages.values()) yield p.name;
    },
    sync: (params, run) =>
      runCondaSync(
        { config: run.config, policy: run.policy, catalog, store, db },
        {
          dryRun: params.dryRun ?? false,
          onEvent: run.emit,
          signal: run.signal,
          ...(params.channels ? { channels: params.channels as string[] } : {}),
        },
      ),
    async import(params, run) {
      const channel = index.channel(
        (params.channel as string | undefined) ?? condaConfig.of(config).channels[0]?.name ?? 'conda-forge',
      ).name;
      const r = await importCondaDir(params.dir, {
        store,
        catalog,
        channel,
        onProgress: (line) => run.emit({ type: 'line', line }),
        signal: run.signal,
      });
      return { ...r, channel };
    },
    publish: (view, out) => publishCondaView(index, view, out),
    async check(views, policy) {
      const problems = checkCondaInstallability(index, policy, views);
      const offered = views.filter((view) =>
        index.channels.some((c) => index.subdirsOf(c).some((s) => index.allowedPackages(view, c.name, s).length > 0)),
      );
      return {
        problems: problems.map((p) => ({
          view: p.view,
          text: `${p.channel}/${p.platform}: ${p.filename} depends on "${p.dependency}": ${p.reason}`,
          detail: { ...p },
        })),
        offered,
        hasRecords: [...catalog.all()].some((s) => s.packages.size > 0),
      };
    },
    stats: () => ({ cacheBytes: index.cacheStats().bytes }),
  };
}

/** The conda part of a runtime, typed (for code and tests that work with conda itself). */
export function openedConda(rt: { ecosystems: ReadonlyMap<string, OpenEcosystem> }): OpenConda {
  const o = rt.ecosystems.get(conda.id);
  if (!o) throw new Error('the runtime has no conda ecosystem');
  return o as OpenConda;
}
