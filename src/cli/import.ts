// `safelist import pypi DIR`
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { importPypiDir } from '../ecosystems/pypi/importer.js';
import { openRuntime } from '../runtime.js';

export async function importCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const [ecosystem, dir] = positionals;
  if (ecosystem !== 'pypi' || !dir) {
    process.stderr.write('usage: safelist import pypi DIR\n');
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    const report = await importPypiDir(dir, { store: rt.store, catalog: rt.pypiCatalog, onProgress: (l) => process.stderr.write(`${l}\n`) });
    for (const s of report.skipped) process.stderr.write(`skipped ${s.path}: ${s.reason}\n`);
    process.stdout.write(`${JSON.stringify({ imported: report.imported.length, skipped: report.skipped.length })}\n`);
    return report.skipped.length ? 1 : 0;
  } finally {
    await rt.close();
  }
}
