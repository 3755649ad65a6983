// The registry of CLI commands: a plain map from name to implementation.
import type { Config } from '../config/schema.js';
import { auditCommand } from './audit.js';
import { exceptionsCommand } from './exceptions.js';
import { importCommand } from './import.js';
import { workspaceCommand } from './workspace.js';
import { publishCommand } from './publish.js';
import { lintCommand } from './lint.js';
import { serveCommand } from './serve.js';
import { syncCommand } from './sync.js';
import { whyCommand } from './why.js';
import { acrImportCommand } from './acr-import.js';
import { gateCommand } from './gate.js';

export type Command = (config: Config, args: string[]) => Promise<number>;

export const commands: Record<string, Command> = {
  serve: serveCommand,
  import: importCommand,
  sync: syncCommand,
  allowlist: lintCommand,
  why: whyCommand,
  audit: auditCommand,
  exceptions: exceptionsCommand,
  workspace: workspaceCommand,
  publish: publishCommand,
  'acr-import': acrImportCommand,
  gate: gateCommand,
};
