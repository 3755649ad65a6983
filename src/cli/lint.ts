// `safelist allowlist lint`: every problem in allowlists/ and exceptions/ (the container gate's
// containers.yaml included), with file and line.
import type { Config } from '../config/schema.js';
import { grammars } from '../ecosystems/grammars.js';
import { DEFAULT_VIEW } from '../policy/decide.js';
import { loadPolicyFiles } from '../policy/load.js';
import { join } from 'node:path';
import { loadContainerPolicy } from '../gate/policy.js';

export async function lintCommand(config: Config, argv: string[]): Promise<number> {
  if (argv[0] !== 'lint') {
    process.stderr.write('usage: safelist allowlist lint\n');
    return 2;
  }
  const views = new Set([DEFAULT_VIEW, ...Object.keys(config.views)]);
  const loaded = await loadPolicyFiles(config.policy, { grammars, views });
  // OCI names start with a configured upstream's short name; anything else could never sync.
  const registries = new Set(config.oci.upstreams.map((u) => u.name));
  for (const r of loaded.rules) {
    const registry = r.ecosystem === 'oci' ? r.name.split('/')[0]! : undefined;
    if (registry !== undefined && !registries.has(registry) && r.location) {
      loaded.problems.push({ ...r.location, message: `"${registry}" is not a configured oci upstream (oci.upstreams: ${[...registries].join(', ') || 'none'})` });
    }
  }
  const containers = await loadContainerPolicy(join(config.policy.allowlistDir, config.gate.policyFile));
  if (!containers.ok) loaded.problems.push(...containers.problems);
  for (const p of loaded.problems) process.stdout.write(`${p.file}:${p.line}: ${p.message}\n`);
  process.stderr.write(`${loaded.files.length} file(s), ${loaded.rules.length} rule(s), ${loaded.problems.length} problem(s)\n`);
  return loaded.problems.length ? 1 : 0;
}
