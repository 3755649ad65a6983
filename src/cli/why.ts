// `safelist why NAME [--view V] [--ecosystem pypi|oci] [--json]`
// Without --ecosystem, a name with a slash (mcr/azureml/x) is an image, anything else PyPI.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { explainName } from '../policy/explain.js';
import { ECOSYSTEMS, type Ecosystem } from '../policy/types.js';
import { openRuntime } from '../runtime.js';

export async function whyCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { view: { type: 'string', default: 'default' }, ecosystem: { type: 'string' }, json: { type: 'boolean' } },
  });
  const name = positionals[0];
  values.ecosystem ??= name?.includes('/') ? 'oci' : 'pypi';
  if (!name || !ECOSYSTEMS.includes(values.ecosystem as Ecosystem)) {
    process.stderr.write(`usage: safelist why NAME [--view V] [--ecosystem ${ECOSYSTEMS.join('|')}]\n`);
    return 2;
  }
  const rt = await openRuntime(config, { holder: 'safelist why' });
  try {
    const e = explainName({ policy: rt.policies.policy, pypi: rt.pypi, oci: rt.ociCatalog, conda: rt.conda }, values.ecosystem as Ecosystem, name, values.view!);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    } else {
      const lines = [`${e.ecosystem} ${e.name} in view ${e.view}: ${e.status}`, `  ${e.message}`];
      if (e.rules.length) lines.push('  rules:', ...e.rules.map((r) => `    - ${r}`));
      if (e.available.length) lines.push(`  available: ${e.available.join(', ')}`);
      for (const r of e.refused) lines.push(`  refused ${r.version}: ${r.reason}`);
      if (e.status !== 'allowed') lines.push(`  to ask for it: ${e.howToRequest}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return e.status === 'allowed' ? 0 : 1;
  } finally {
    await rt.close();
  }
}
