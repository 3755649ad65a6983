// `safelist why NAME [--view V] [--ecosystem ID] [--json]`
// Without --ecosystem, the first registered ecosystem whose names claim it (a scoped name,
// @scope/name, is npm; another name with a slash, mcr/azureml/x, an image; anything else a Python project).
// Exit codes: 0 allowed and served, 1 blocked, partly allowed or not mirrored, 2 usage (an unknown view).
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { explainSyncFailures } from '../audit/sync-failures.js';
import { explainName } from '../policy/explain.js';
import { ecosystemClaiming, ecosystemIds, ecosystemOf } from '../ecosystems/index.js';
import { openRuntime } from '../runtime.js';

export async function whyCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { view: { type: 'string', default: 'default' }, ecosystem: { type: 'string' }, json: { type: 'boolean' } },
  });
  const name = positionals[0];
  const module = name ? ecosystemOf(values.ecosystem ?? ecosystemClaiming(name).id) : undefined;
  if (!name || !module) {
    process.stderr.write(`usage: safelist why NAME [--view V] [--ecosystem ${ecosystemIds.join('|')}]\n`);
    return 2;
  }
  const rt = await openRuntime(config, { holder: 'safelist why' });
  try {
    const source = rt.ecosystems.get(module.id);
    const explained = explainName(
      { policy: rt.policies.policy, ...(source ? { source } : {}), item: module.names.item },
      module.id,
      name,
      values.view!,
    );
    // Allowed but not served: the last sync's audit record may say which file it refused, and why.
    const e = await explainSyncFailures(explained, rt.audit, module.names.fileOf);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    } else {
      const lines = [`${e.ecosystem} ${e.name} in view ${e.view}: ${e.status}`, `  ${e.message}`];
      if (e.rules.length) lines.push('  rules:', ...e.rules.map((r) => `    - ${r}`));
      if (e.available.length) lines.push(`  available: ${e.available.join(', ')}`);
      for (const r of e.refused) lines.push(`  refused ${r.version}: ${r.reason}`);
      // Not mirrored is already allowed: an exception would not help, the sync would.
      if (e.status !== 'allowed' && e.status !== 'not-mirrored') lines.push(`  to ask for it: ${e.howToRequest}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return e.status === 'allowed' ? 0 : 1;
  } finally {
    await rt.close();
  }
}
