// The registry of ecosystems: a plain map of the modules, in the order the CLI and `why` try
// them, and what is composed from all of them (grammars, configuration sections, migrations).
// The only place outside an ecosystem's own folder that names one; everything else loops over
// this map. Adding an ecosystem is its folder plus one line here. It must never hold anything
// but modules and their compositions (no per-ecosystem branch belongs here). Whoever loads the
// configuration or opens the database takes the composed lists from here, so none can forget an
// ecosystem's section or tables.
import { conda } from './conda/module.js';
import { npm } from './npm/module.js';
import { oci } from './oci/module.js';
import { pypi } from './pypi/module.js';
import type { z } from 'zod';
import type { EcosystemModule } from './types.js';
import { composeConfigSchema, type Config, type ConfigSection } from '../config/schema.js';
import type { PolicyGrammar } from '../policy/types.js';
import { openDb, type Db, type OpenDbOptions } from '../state/db.js';
import { composeMigrations, migrations as coreMigrations, type Migration } from '../state/migrations.js';

export const ecosystems: ReadonlyMap<string, EcosystemModule> = new Map([pypi, conda, oci, npm].map((m) => [m.id, m]));

/** Every ecosystem's id, in registry order. */
export const ecosystemIds: readonly string[] = [...ecosystems.keys()];

/** Each ecosystem's policy grammar by id: what policy/ is given (it knows no ecosystem itself). */
export const grammars: Readonly<Record<string, PolicyGrammar>> = Object.fromEntries([...ecosystems].map(([id, m]) => [id, m.grammar]));

/** The module of an id, or undefined (callers refuse unknown ids with the list of known ones). */
export function ecosystemOf(id: string): EcosystemModule | undefined {
  return ecosystems.get(id);
}

/** The default ecosystem of a command without --ecosystem: the first whose names claim it. */
export function ecosystemClaiming(name: string): EcosystemModule {
  return [...ecosystems.values()].find((m) => m.names.claims?.(name)) ?? [...ecosystems.values()][0]!;
}

/** Every module's configuration section, in registry order: what loadConfig takes (`sections`). */
export const configSections: readonly ConfigSection[] = [...ecosystems.values()].flatMap((m) => (m.config ? [m.config] : []));

/** The whole configuration schema (core keys and every section), for code that parses a configuration itself. */
export const configSchema: z.ZodType<Config> = composeConfigSchema(configSections);

/** Every migration, the core's and each module's, in global id order; a duplicate id stops the process at start. */
export const migrations: readonly Migration[] = composeMigrations([
  { owner: 'the core (src/state/migrations.ts)', migrations: coreMigrations },
  ...[...ecosystems.values()].map((m) => ({ owner: `ecosystem ${m.id}`, migrations: m.migrations ?? [] })),
]);

/** Opens the state store with every migration applied: the one way Safelist opens a database. */
export function openStateDb(opts: Omit<OpenDbOptions, 'migrations'>): Promise<Db> {
  return openDb({ ...opts, migrations });
}
