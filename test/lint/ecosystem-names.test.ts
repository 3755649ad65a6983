// Proves that an ecosystem's name cannot come back outside its own folder: the ESLint rule in
// eslint.config.js reports a string literal (or template text) naming a registered ecosystem
// anywhere in src/ but src/ecosystems/<id>/, for every id the registry holds, and the whole of
// src/ passes it today. Runs ESLint on text only for the probes: it never writes into src/.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ecosystemIds } from '../../src/ecosystems/index.js';

const eslint = new ESLint();

async function nameErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

describe('ecosystem names outside their folders', () => {
  it.each(ecosystemIds)('reports "%s" as a literal or template text in a service, the HTTP app and the registry itself', async (id) => {
    const branch = `export const f = (e: string) => e === '${id}';\n`;
    for (const path of ['src/jobs/probe.ts', 'src/http/probe.ts', 'src/gate/providers/probe.ts', 'src/ecosystems/index.ts']) {
      const errs = await nameErrors(path, branch);
      expect(errs, path).toHaveLength(1);
      expect(errs[0]).toContain('loop over the registry');
    }
    expect(await nameErrors('src/cli/probe.ts', `export const u = \`${id}\`;\n`)).toHaveLength(1);
  });

  it.each(ecosystemIds)('allows "%s" inside its own folder, and other words anywhere', async (id) => {
    expect(await nameErrors(`src/ecosystems/${id}/probe.ts`, `export const id = '${id}';\n`)).toEqual([]);
    expect(await nameErrors('src/jobs/probe.ts', `export const w = '${id}-old';\n`)).toEqual([]);
  });

  it('finds no ecosystem name outside its folder in src/ as it is', async () => {
    const results = await eslint.lintFiles(['src/**/*.ts']);
    const found = results.flatMap((r) =>
      r.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => `${r.filePath}:${m.line}: ${m.message}`),
    );
    expect(found).toEqual([]);
  });
});
