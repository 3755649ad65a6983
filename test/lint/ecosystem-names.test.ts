// Proves that an ecosystem's name cannot come back outside its own folder: the ESLint rule in
// eslint.config.js reports a string literal (or template text) naming a registered ecosystem,
// the id as a property or key (config.npm, { npm: … }), and one of its tables in SQL text
// (FROM npm_versions) anywhere in src/ but src/ecosystems/<id>/, for every id the registry holds,
// and the whole of src/ passes it today. Runs ESLint on text only for the probes: it never writes into src/.
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

  it.each(ecosystemIds)('reports "%s" as a configuration section, an object or interface key, or a table in SQL text', async (id) => {
    const owned = [
      // What server.ts and onboarding/ read before the sections moved into the modules.
      `import type { Config } from '../config/schema.js';\nexport const f = (config: Config) => (config as any).${id}.gzip;\n`,
      `export const section = { ${id}: { upstreams: [] } };\n`,
      `export interface Sections { ${id}: unknown }\n`,
      `export const q = 'SELECT name FROM ${id}_versions WHERE stored';\n`,
      `export const q = (t: string) => \`DELETE FROM ${id}_files WHERE x = \${t}\`;\n`,
      `export const q = 'update ${id}_packages set stored = true';\n`,
    ];
    for (const path of ['src/server.ts', 'src/onboarding/probe.ts', 'src/jobs/probe.ts', 'src/ecosystems/types.ts']) {
      for (const code of owned) {
        const errs = await nameErrors(path, code);
        expect(errs, `${path}: ${code}`).toHaveLength(1);
        expect(errs[0]).toContain('belong to its module');
      }
    }
    // Inside its own folder all of that is the module's business.
    for (const code of owned) expect(await nameErrors(`src/ecosystems/${id}/probe.ts`, code)).toEqual([]);
  });

  it('leaves words that only start like an ecosystem alone (npmrc, conda_file, pypi-like names in prose)', async () => {
    const code = `export const o = { npmrc: 'x', condarc: 'y' };\nexport const yml = 'conda_file:';\nexport const t = 'SELECT id FROM job_runs';\n`;
    expect(await nameErrors('src/onboarding/probe.ts', code)).toEqual([]);
  });

  it('finds no ecosystem name outside its folder in src/ as it is', async () => {
    const results = await eslint.lintFiles(['src/**/*.ts']);
    const found = results.flatMap((r) =>
      r.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => `${r.filePath}:${m.line}: ${m.message}`),
    );
    expect(found).toEqual([]);
  });
});
