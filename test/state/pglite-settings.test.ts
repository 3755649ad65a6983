// Embedded PGlite's PostgreSQL settings (config database.pgliteSettings): a small shared_buffers
// by default (its WebAssembly heap never shrinks), a user's own settings merged over it and
// applied at every open of a folder, and a malformed name or value refused naming the key.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { Db } from '../../src/state/db.js';
import { configSections, openStateDb } from '../../src/ecosystems/index.js';
import { seededPglite } from '../support/databases.js';

const show = async (db: Db, name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`))[0]![name];

describe('PGlite settings', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  const configWith = async (yaml: string) => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-pglite-config-'));
    dirs.push(dir);
    await writeFile(join(dir, 'safelist.yaml'), yaml);
    return () => loadConfig({ sections: configSections, file: join(dir, 'safelist.yaml'), env: {} }).config;
  };

  it('default to an 8MB shared_buffers, keeping that default when other settings are given', async () => {
    expect(loadConfig({ sections: configSections, env: {} }).config.database.pgliteSettings).toEqual({ shared_buffers: '8MB' });
    const load = await configWith('database: { pgliteSettings: { work_mem: 8MB } }\n');
    expect(load().database.pgliteSettings).toEqual({ shared_buffers: '8MB', work_mem: '8MB' });
  });

  it('refuses a setting that is not a plain name and value, naming the key', async () => {
    const value = await configWith(`database: { pgliteSettings: { work_mem: "8MB' -c x=1" } }\n`);
    expect(value).toThrow(ConfigError);
    expect(value).toThrow(/database\.pgliteSettings\.work_mem: a plain setting value/);
    expect(await configWith('database: { pgliteSettings: { "work-mem; x": 8MB } }\n')).toThrow(/database\.pgliteSettings/);
  });

  // From the run's pre-migrated template (the settings apply at every open, seeded or not; the
  // folder's first open seeds it, the second opens what is there).
  it('applies the settings at open, in memory and on a folder opened again with other settings', async () => {
    const mem = await openStateDb({ ...seededPglite(), pgliteSettings: { shared_buffers: '16MB', work_mem: '8MB' } });
    try {
      expect(await show(mem, 'shared_buffers')).toBe('16MB');
      expect(await show(mem, 'work_mem')).toBe('8MB');
    } finally {
      await mem.close();
    }
    const dir = await mkdtemp(join(tmpdir(), 'safelist-pglite-settings-'));
    dirs.push(dir);
    const first = await openStateDb({ ...seededPglite(dir), pgliteSettings: { shared_buffers: '8MB' } });
    expect(await show(first, 'shared_buffers')).toBe('8MB');
    await first.close();
    const again = await openStateDb({ ...seededPglite(dir), pgliteSettings: { shared_buffers: '24MB' } });
    try {
      expect(await show(again, 'shared_buffers')).toBe('24MB');
    } finally {
      await again.close();
    }
  });
});
