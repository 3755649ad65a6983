// Proves the import-layer rules in eslint.config.js bite: a module placed in a lower folder that
// imports a higher one, a same-layer import against its allowed direction, and an import into a
// single top-level file (runtime.ts) are each reported, while a downward import is not. Guards
// against a rule set that silently passes everything (an import resolver that stopped resolving,
// a renamed option). Runs ESLint on text only: it never writes a file into src/.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

/** The boundary messages ESLint reports for `code` as if it were the file at `path`. */
async function boundaryErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return result!.messages.filter((m) => m.ruleId === 'boundaries/dependencies').map((m) => m.message);
}

describe('import layers', () => {
  it('reports a lower folder importing a higher one, and names both', async () => {
    const errs = await boundaryErrors(
      'src/policy/probe.ts',
      "import { grammars } from '../ecosystems/index.js';\nexport const g = grammars;\n",
    );
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/"policy".*"ecosystems"/);
  });

  it('reports type-only imports the same way (the policy → ecosystems cycle was type imports)', async () => {
    const errs = await boundaryErrors(
      'src/policy/probe.ts',
      "import type { PypiIndex } from '../ecosystems/pypi/index.js';\nexport type P = PypiIndex;\n",
    );
    expect(errs).toHaveLength(1);
  });

  it('reports the gate importing http (the http ↔ gate cycle) and a file of the top level', async () => {
    const errs = await boundaryErrors(
      'src/gate/probe.ts',
      "import { buildApp } from '../http/app.js';\nimport { openRuntime } from '../runtime.js';\nexport const x = [buildApp, openRuntime];\n",
    );
    expect(errs).toHaveLength(2);
  });

  it('allows a same-layer import only in its listed direction', async () => {
    const down = "import type { Notifier } from '../notify/notifier.js';\nexport type N = Notifier;\n";
    expect(await boundaryErrors('src/gate/probe.ts', down)).toEqual([]);
    const up = "import type { Verdict } from '../gate/types.js';\nexport type V = Verdict;\n";
    expect(await boundaryErrors('src/notify/probe.ts', up)).toHaveLength(1);
  });

  it('allows imports that point down, from folders and from top-level files (as server.ts)', async () => {
    const code =
      "import { errors } from '../errors.js';\nimport type { Config } from '../config/schema.js';\nimport { PolicyStore } from '../policy/store.js';\nexport const x = [errors, PolicyStore] as unknown as Config;\n";
    expect(await boundaryErrors('src/http/probe.ts', code)).toEqual([]);
    expect(await boundaryErrors('src/server.ts', code.replaceAll('../', './'))).toEqual([]);
  });

  it('reports a file of src/ that belongs to no layer', async () => {
    const [result] = await eslint.lintText('export const x = 1;\n', { filePath: 'src/nowhere/probe.ts' });
    expect(result!.messages.map((m) => m.ruleId)).toContain('boundaries/no-unknown-files');
  });
});
