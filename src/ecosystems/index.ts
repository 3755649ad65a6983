// The registry of ecosystems: a plain map of the modules, in the order the CLI and `why` try
// them. The only place outside an ecosystem's own folder that names one; everything else loops
// over this map. Adding an ecosystem is its folder plus one line here. It must never hold
// anything but modules (no per-ecosystem branch belongs here).
import { conda } from './conda/module.js';
import { npm } from './npm/module.js';
import { oci } from './oci/module.js';
import { pypi } from './pypi/module.js';
import type { EcosystemModule } from './types.js';
import type { PolicyGrammar } from '../policy/types.js';

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
