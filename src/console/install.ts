// The install snippet of a package in a view, built from the workspace onboarding settings
// (onboarding/workspace.ts: the same index URL and channel alias the workspace is told to use).
// It must never name a URL taken from the request (Host header): the base is server.publicUrl
// or the address the server listens on, as onboarding decides.
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { onboardingBase, workspaceConfig } from '../onboarding/workspace.js';
import type { Ecosystem } from '../policy/types.js';

/** The command that installs `name` (at `version`, when given) in `view`; undefined when the base URL is unknown. */
export function installSnippet(
  config: Config,
  listening: AddressInfo | string | null,
  ecosystem: Ecosystem,
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
  const ws = workspaceConfig(config, view, base);
  if (ecosystem === 'pypi') return `pip install --index-url ${ws.environment.PIP_INDEX_URL} "${name}${version ? `==${version}` : ''}"`;
  if (ecosystem === 'conda') {
    const channel = config.conda.channels[0]?.name ?? 'conda-forge';
    return `conda install --override-channels -c ${ws.environment.CONDA_CHANNEL_ALIAS}/${channel} "${name}${version ? `==${version}` : ''}"`;
  }
  const host = new URL(ws.base).host;
  return `docker pull ${view === 'default' ? host : `${host}/views/${view}`}/${name}:${version ?? 'latest'}`;
}
