// `safelist why NAME [--view V] [--ecosystem pypi|oci|conda|npm] [--json]`
// Without --ecosystem, a scoped name (@scope/name) is npm, a name with a slash (mcr/azureml/x) an image, anything else PyPI.
// Exit codes: 0 allowed and served, 1 blocked, partly allowed or not mirrored, 2 usage (an unknown view).
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { explainName, withSyncFailures } from '../policy/explain.js';
import { ECOSYSTEMS, type Ecosystem } from '../policy/types.js';
import { normalizeProjectName, parseDistFilename } from '../ecosystems/pypi/names.js';
import { openRuntime } from '../runtime.js';
import { npmExplainer } from '../ecosystems/npm/explain.js';

export async function whyCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { view: { type: 'string', default: 'default' }, ecosystem: { type: 'string' }, json: { type: 'boolean' } },
  });
  const name = positionals[0];
  values.ecosystem ??= name?.startsWith('@') ? 'npm' : name?.includes('/') ? 'oci' : 'pypi';
  if (!name || !ECOSYSTEMS.includes(values.ecosystem as Ecosystem)) {
    process.stderr.write(`usage: safelist why NAME [--view V] [--ecosystem ${ECOSYSTEMS.join('|')}]\n`);
    return 2;
  }
  const rt = await openRuntime(config, { holder: 'safelist why' });
  try {
    let e = explainName(
      { policy: rt.policies.policy, pypi: rt.pypi, oci: rt.ociCatalog, conda: rt.conda, npm: npmExplainer(rt.npmCatalog, rt.npm) },
      values.ecosystem as Ecosystem,
      name,
      values.view!,
    );
    // Allowed but not served: the last sync's audit record may say which file it refused, and why.
    if (e.status === 'not-mirrored')
      e = withSyncFailures(e, (await rt.audit.latest('sync.finished', e.ecosystem))?.detail.failed, (f) => fileOf(e.ecosystem, e.name, f));
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

/** Does a file name in a sync report (or its "project/" entry for a project that failed whole) belong to this name? */
function fileOf(ecosystem: Ecosystem, name: string, filename: string): boolean {
  if (ecosystem === 'pypi') {
    if (filename.endsWith('/')) return normalizeProjectName(filename.slice(0, -1)) === name;
    const parsed = parseDistFilename(filename);
    return parsed !== undefined && normalizeProjectName(parsed.name) === name;
  }
  // conda: name-version-build.ext, where the name may itself hold dashes.
  if (ecosystem === 'conda')
    return (
      filename
        .replace(/\.(conda|tar\.bz2)$/, '')
        .split('-')
        .slice(0, -2)
        .join('-') === name
    );
  return filename === name || filename.startsWith(`${name}:`) || filename.startsWith(`${name}@`);
}
