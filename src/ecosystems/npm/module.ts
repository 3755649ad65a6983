// The npm ecosystem behind the EcosystemModule seam (src/ecosystems/types.ts): semver grammar with
// scoped names, the per-package catalog and its packument read model, /npm/{view}/ routes (npm's
// {"error": "..."} dialect) with the audit endpoint, the registry sync, the gate's contents
// matcher (node_modules/**/package.json), triage, `why` and semver ranges of OSV advisories. No
// importer and no static publish. Wiring only: each role's code is in its own file here. It must never be reached by name from outside (the registry in
// ../index.ts lists it).
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { sendBlob, servedBy } from '../../serve/blob-response.js';
import type { EcosystemModule, InstallQuery, OpenContext, OpenEcosystem, SyncSpec } from '../types.js';
import { npmAffects, registerNpmAuditRoute } from './audit.js';
import { NpmCatalog } from './catalog.js';
import { npmContents } from './contents.js';
import { explainNpm } from './explain.js';
import { npmConfig } from './config.js';
import { npmGrammar } from './grammar.js';
import { migrations } from './migrations.js';
import { npmOnboarding } from './onboarding.js';
import { NpmIndex } from './index.js';
import { checkNpmName } from './names.js';
import { registerNpmRoutes, sendNpmError } from './routes.js';
import { npmSyncSummary, runNpmSync, type NpmSyncReport } from './sync.js';
import { npmNameVariants, triageNpm } from './triage.js';

/** What a runtime holds of npm (its catalog and read model, typed). */
export interface OpenNpm extends OpenEcosystem {
  readonly catalog: NpmCatalog;
  readonly readModel: NpmIndex;
}

const names = z.array(z.string().min(1).max(214)).max(1000);
const syncParams = z.strictObject({ dryRun: z.boolean().optional(), packages: names.optional() });

const npmSyncSpec: SyncSpec = {
  params: syncParams,
  paramsFrom: (c) => ({ dryRun: c.dryRun, ...(c.names ? { packages: c.names } : {}) }),
  // Part of a default sync when an upstream registry is configured and some rule names an npm package.
  inDefaultPlan: (config, policy) => npmConfig.of(config).upstreams.length > 0 && policy.rules.some((r) => r.ecosystem === 'npm'),
  afterApproval: (config, name) => (npmConfig.of(config).upstreams.length ? { packages: [name] } : undefined),
  auditDetail: (r, p) => ({
    downloaded: r.downloaded,
    bytes: r.bytes,
    failed: r.failed.map((f) => ({ filename: f.filename, error: f.error })),
    missing: r.missing,
    ...(p.packages ? { packages: p.packages } : {}),
  }),
  summary: (r, dryRun) => npmSyncSummary(r as NpmSyncReport, dryRun),
};

/** A sync report names a version `name@version`, or the whole package `name/`. */
function fileOf(name: string, filename: string): boolean {
  return filename === `${name}/` || filename.startsWith(`${name}@`);
}

export const npm: EcosystemModule = {
  id: 'npm',
  label: 'npm',
  grammar: npmGrammar,
  config: npmConfig,
  migrations,
  names: {
    osv: 'npm',
    item: 'tarball',
    fileOf,
    // A scoped name (@scope/name) is npm's alone: no other ecosystem's names start with '@'.
    claims: (name) => name.startsWith('@') && checkNpmName(name) === undefined,
    variants: npmNameVariants,
    osvAffects: npmAffects,
  },
  surface: {
    prefix: '/npm/',
    tokenHint: 'npm //host/npm/VIEW/:_authToken=TOKEN in .npmrc',
    sendError: (_req, reply, err) => sendNpmError(reply, err),
  },
  sync: npmSyncSpec,
  contents: npmContents,
  onboarding: npmOnboarding,
  installSnippet,
  open: openNpm,
};

/**
 * Where tarball URLs point: server.publicUrl, else the address the server listens on (never the
 * Host header: anyone can send any Host). A wildcard address names no host: the admin must say.
 */
function originOf(publicUrl: string | undefined, listening: AddressInfo | string | null): string {
  if (publicUrl) return publicUrl.replace(/\/$/, '');
  if (!listening || typeof listening === 'string' || listening.address === '0.0.0.0' || listening.address === '::')
    throw errors.publicUrlUnset(
      'Safelist listens on every address and server.publicUrl is not set, so it cannot tell which URL npm clients reach it at; an administrator sets server.publicUrl (e.g. https://safelist.example.com)',
    );
  const host = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;
  return `http://${host}:${listening.port}`;
}

/** npm with Safelist's view as the registry for this one command (its .npmrc from onboarding says the same). */
function installSnippet(q: InstallQuery): string {
  const registry = `${q.base.replace(/\/$/, '')}/npm/${q.view}/`;
  return `npm install --registry ${registry} "${q.name}${q.version ? `@${q.version}` : ''}"`;
}

async function openNpm(ctx: OpenContext): Promise<OpenNpm> {
  const { config, store } = ctx;
  const catalog = new NpmCatalog(ctx.db, ctx.reloads);
  await catalog.open();
  const index = new NpmIndex(catalog, ctx.policies, { maxBytes: config.cache.maxBytes });
  return {
    module: npm,
    catalog,
    readModel: index,
    routes: (app, deps) => {
      registerNpmRoutes(app, {
        index,
        sendFile: (req, reply, file) => sendBlob(deps.store, req, reply, file),
        origin: () => originOf(config.server.publicUrl, app.server.address()),
        onServed: (req, view, v) =>
          deps.onServed?.({
            ...servedBy(req, view, v.name, v.version),
            sha256: v.sha256 ?? '',
            filename: `${v.name}@${v.version}`,
            download: true,
          }),
        ...(deps.onBlocked ? { onBlocked: deps.onBlocked } : {}),
      });
      if (deps.advisories) registerNpmAuditRoute(app, { advisories: deps.advisories, policy: () => deps.policies.policy });
    },
    explain: (name, view) => explainNpm(catalog, index, name, view),
    triage: async (q) => triageNpm(catalog, q),
    catalogNames: () => catalog.names(),
    sync: (params, run) =>
      runNpmSync(
        { config: run.config, policy: run.policy, catalog, store },
        {
          dryRun: params.dryRun ?? false,
          onEvent: run.emit,
          signal: run.signal,
          ...(params.packages ? { only: params.packages as string[] } : {}),
        },
      ),
    stats: () => ({ cacheBytes: index.cacheStats().bytes }),
  };
}

/** The npm part of a runtime, typed (for code and tests that work with npm itself). */
export function openedNpm(rt: { ecosystems: ReadonlyMap<string, OpenEcosystem> }): OpenNpm {
  const o = rt.ecosystems.get(npm.id);
  if (!o) throw new Error('the runtime has no npm ecosystem');
  return o as OpenNpm;
}
