// `safelist allowlist lint`: every problem in allowlists/ and exceptions/, with file and line.
import type { Config } from '../config/schema.js';
import { grammars } from '../ecosystems/grammars.js';
import { DEFAULT_VIEW } from '../policy/decide.js';
import { loadPolicyFiles } from '../policy/load.js';

export async function lintCommand(config: Config, argv: string[]): Promise<number> {
  if (argv[0] !== 'lint') {
    process.stderr.write('usage: safelist allowlist lint\n');
    return 2;
  }
  const views = new Set([DEFAULT_VIEW, ...Object.keys(config.views)]);
  const loaded = await loadPolicyFiles(config.policy, { grammars, views });
  for (const p of loaded.problems) process.stdout.write(`${p.file}:${p.line}: ${p.message}\n`);
  process.stderr.write(`${loaded.files.length} file(s), ${loaded.rules.length} rule(s), ${loaded.problems.length} problem(s)\n`);
  return loaded.problems.length ? 1 : 0;
}
