// The install snippet of a package in a view: the base URL onboarding decides (onboarding/workspace.ts:
// server.publicUrl or the address the server listens on), and the client command the ecosystem's
// module writes for it (pip, conda, docker, npm). It must never name a URL taken from the request
// (Host header), and never build an ecosystem's command itself: that is the module's installSnippet.
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { EcosystemModule } from '../ecosystems/types.js';
import { onboardingBase } from '../onboarding/workspace.js';

/** The command that installs `name` (at `version`, when given) in `view`; undefined when the base URL is unknown. */
export function installSnippet(
  config: Config,
  listening: AddressInfo | string | null,
  module: EcosystemModule,
  name: string,
  view: string,
  version?: string,
): string | undefined {
  let base: string;
  try {
    base = onboardingBase(config.server.publicUrl, listening);
  } catch {
    return undefined; // no public URL and a wildcard listen address: the page says so instead
  }
  return module.installSnippet({ config, base, view, name, ...(version ? { version } : {}) });
}
