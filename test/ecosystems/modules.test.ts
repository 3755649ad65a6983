// Every registered ecosystem is one folder with the same file names for the same roles
// (STYLE.md habit 1): module.ts, grammar.ts, catalog.ts, index.ts (the read model) and
// routes.ts always; sync.ts, importer.ts, contents.ts and publish.ts exactly when the module
// (or what it opens) has that role, and config.ts, migrations.ts and onboarding.ts exactly when
// it declares a configuration section, migrations, an onboarding snippet. A role without its
// file, or a file without its role, fails here. Also: ids are unique and match their folder, each opened ecosystem belongs to it, and a
// name `why` is given without --ecosystem is claimed by one ecosystem at most.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecosystemClaiming, ecosystems } from '../../src/ecosystems/index.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

const ROOT = join(import.meta.dirname, '..', '..', 'src', 'ecosystems');
const ALWAYS = ['module.ts', 'grammar.ts', 'catalog.ts', 'index.ts', 'routes.ts'];

describe('ecosystem modules', () => {
  let sl: TestSafelist;
  beforeAll(async () => {
    sl = await startTestSafelist();
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('registers at least the three ecosystems Safelist serves today, each in a folder named by its id', () => {
    expect(ecosystems.size).toBeGreaterThanOrEqual(3);
    for (const [id, m] of ecosystems) {
      expect(m.id).toBe(id);
      expect(existsSync(join(ROOT, id)), id).toBe(true);
    }
  });

  it.each([...ecosystems.keys()])('%s has one file per role, and a role for each optional file', (id) => {
    const m = ecosystems.get(id)!;
    const opened = sl.runtime.ecosystems.get(id)!;
    expect(opened.module).toBe(m);
    const has = (file: string) => existsSync(join(ROOT, id, file));
    for (const file of ALWAYS) expect(has(file), `${id}/${file}`).toBe(true);
    const roles: Record<string, boolean> = {
      'sync.ts': m.sync !== undefined && opened.sync !== undefined,
      'importer.ts': m.importer !== undefined && opened.import !== undefined,
      'contents.ts': m.contents !== undefined,
      'publish.ts': opened.publish !== undefined,
    };
    const more: Record<string, boolean> = {
      'config.ts': m.config !== undefined,
      'migrations.ts': m.migrations !== undefined,
      'onboarding.ts': m.onboarding !== undefined,
    };
    for (const [file, role] of Object.entries({ ...roles, ...more }))
      expect(has(file), `${id}/${file} (role ${role ? 'present' : 'absent'})`).toBe(role);
    // Its configuration section is its own top-level key.
    if (m.config) expect(m.config.key).toBe(id);
    // A module's own jobs run in what it opens.
    expect(m.jobs === undefined || m.jobs.length === 0).toBe(opened.runJob === undefined);
    // A static role and its runtime half come together.
    expect(m.sync === undefined).toBe(opened.sync === undefined);
    expect(m.importer === undefined).toBe(opened.import === undefined);
  });

  it('lets one ecosystem at most claim a name, so `why` without --ecosystem is not decided by registry order', () => {
    const claimants = (name: string) => [...ecosystems.values()].filter((m) => m.names.claims?.(name)).map((m) => m.id);
    const names = { '@acme/left-pad': 'npm', 'mcr/azureml/base': 'oci', requests: 'pypi' };
    for (const [name, id] of Object.entries(names)) {
      expect(claimants(name), name).toEqual([id]);
      expect(ecosystemClaiming(name).id, name).toBe(id);
    }
  });

  it.each([...ecosystems.keys()])("%s writes an install snippet through Safelist's base URL and view, pinning the version asked", (id) => {
    const m = ecosystems.get(id)!;
    const q = { config: sl.config, base: 'https://safelist.example.com', view: 'team-a', name: 'some-name' };
    const pinned = m.installSnippet({ ...q, version: '1.2.3' });
    for (const part of ['safelist.example.com', 'team-a', 'some-name', '1.2.3']) expect(pinned, `${id}: ${part}`).toContain(part);
    const unpinned = m.installSnippet(q);
    expect(unpinned).toContain('some-name');
    expect(unpinned).not.toContain('1.2.3');
    // The catalog's names for the console's search: none in a fresh runtime, and iterable for every module.
    expect([...sl.runtime.ecosystems.get(id)!.catalogNames()]).toEqual([]);
  });

  it('gives every ecosystem a read path of its own', () => {
    const prefixes = [...ecosystems.values()].map((m) => m.surface.prefix);
    expect(new Set(prefixes).size).toBe(prefixes.length);
  });
});
