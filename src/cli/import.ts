// `safelist import pypi DIR` and `safelist import conda DIR [--channel NAME]`
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { importPypiDir } from '../ecosystems/pypi/importer.js';
import { importCondaDir } from '../ecosystems/conda/importer.js';
import { openRuntime } from '../runtime.js';

export async function importCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { channel: { type: 'string' } } });
  const [ecosystem, dir] = positionals;
  if ((ecosystem !== 'pypi' && ecosystem !== 'conda') || !dir) {
    process.stderr.write('usage: safelist import pypi DIR | safelist import conda DIR [--channel NAME]\n');
    return 2;
  }
  const rt = await openRuntime(config);
  try {
    if (ecosystem === 'conda') {
      const channel = rt.conda.channel(values.channel ?? config.conda.channels[0]?.name ?? 'conda-forge').name;
      const report = await importCondaDir(dir, { store: rt.store, catalog: rt.condaCatalog, channel, onProgress: (l) => process.stderr.write(`${l}\n`) });
      for (const s of report.skipped) process.stderr.write(`skipped ${s.path}: ${s.reason}\n`);
      process.stdout.write(`${JSON.stringify({ channel, imported: report.imported.length, skipped: report.skipped.length })}\n`);
      return report.skipped.length ? 1 : 0;
    }
    const report = await importPypiDir(dir, { store: rt.store, catalog: rt.pypiCatalog, onProgress: (l) => process.stderr.write(`${l}\n`) });
    for (const s of report.skipped) process.stderr.write(`skipped ${s.path}: ${s.reason}\n`);
    process.stdout.write(`${JSON.stringify({ imported: report.imported.length, skipped: report.skipped.length })}\n`);
    return report.skipped.length ? 1 : 0;
  } finally {
    await rt.close();
  }
}
