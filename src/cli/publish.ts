// `safelist publish [--path DIR] [--view V ...]`: renders each view's simple tree as static
// files into publish.target (or a folder given with --path), then prints what changed.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { openBlobStore } from '../storage/open.js';
import { publishStatic } from '../publish/static.js';

export async function publishCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { path: { type: 'string' }, view: { type: 'string', multiple: true } } });
  const targetConfig = values.path ? { ...config.storage, kind: 'fs' as const, path: values.path } : config.publish.target;
  if (!targetConfig) {
    process.stderr.write('safelist publish: set publish.target in the configuration, or give --path DIR\n');
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    const views = values.view ?? config.publish.views;
    for (const v of views ?? []) {
      if (!rt.policies.policy.hasView(v)) {
        process.stderr.write(`safelist publish: view "${v}" does not exist; configured views: ${rt.policies.policy.viewNames().join(', ')}\n`);
        return 2;
      }
    }
    const target = await openBlobStore(targetConfig);
    const report = await publishStatic({ policy: rt.policies.policy, pypi: rt.pypi, catalog: rt.pypiCatalog, conda: rt.conda, source: rt.store, target }, views ? { views } : {});
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}
