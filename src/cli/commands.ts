// The registry of CLI commands: a map from name to implementation, each module loaded only when
// its command runs, so `safelist gate check` in a pipeline does not load the server, the Azure
// SDKs and every ecosystem first.
import type { Config } from '../config/schema.js';

export type Command = (config: Config, args: string[]) => Promise<number>;

const lazy =
  <M>(load: () => Promise<M>, pick: (m: M) => Command): Command =>
  async (config, args) =>
    pick(await load())(config, args);

export const commands: Record<string, Command> = {
  serve: lazy(
    () => import('./serve.js'),
    (m) => m.serveCommand,
  ),
  import: lazy(
    () => import('./import.js'),
    (m) => m.importCommand,
  ),
  sync: lazy(
    () => import('./sync.js'),
    (m) => m.syncCommand,
  ),
  allowlist: lazy(
    () => import('./lint.js'),
    (m) => m.lintCommand,
  ),
  why: lazy(
    () => import('./why.js'),
    (m) => m.whyCommand,
  ),
  audit: lazy(
    () => import('./audit.js'),
    (m) => m.auditCommand,
  ),
  exceptions: lazy(
    () => import('./exceptions.js'),
    (m) => m.exceptionsCommand,
  ),
  workspace: lazy(
    () => import('./workspace.js'),
    (m) => m.workspaceCommand,
  ),
  publish: lazy(
    () => import('./publish.js'),
    (m) => m.publishCommand,
  ),
  'acr-import': lazy(
    () => import('./acr-import.js'),
    (m) => m.acrImportCommand,
  ),
  gate: lazy(
    () => import('./gate.js'),
    (m) => m.gateCommand,
  ),
  advisories: lazy(
    () => import('./advisories.js'),
    (m) => m.advisoriesCommand,
  ),
  incident: lazy(
    () => import('./incident.js'),
    (m) => m.incidentCommand,
  ),
};
