import { gateRegistryKind } from '../../src/config/schema.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema, configSections } from '../../src/ecosystems/index.js';

describe('configuration', () => {
  it('has working embedded defaults', () => {
    const { config } = loadConfig({ sections: configSections, env: {} });
    expect(config.storage.kind).toBe('fs');
    expect(config.database.url).toBeUndefined();
    expect(config.server.port).toBe(8080);
  });

  it('layers file, environment and well-known variables', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-config-'));
    const file = join(dir, 'safelist.yaml');
    await writeFile(file, 'server: { port: 9000 }\nviews: { team-a: { cooldown: 7d } }\nsync: { runOnStart: true }\n');
    const { config } = loadConfig({
      sections: configSections,
      file,
      env: { SAFELIST_SERVER__HOST: '0.0.0.0', DATABASE_URL: 'postgres://x@db/safelist', SAFELIST_SYNC__RUN_ON_START: 'false' },
    });
    expect(config.server).toMatchObject({ port: 9000, host: '0.0.0.0' });
    expect(config.database.url).toBe('postgres://x@db/safelist');
    expect(config.views['team-a']!.cooldown).toBe('7d');
    expect(config.sync.runOnStart).toBe(false);
  });

  it('tells ACR gate registries (Entra identity) from distribution ones (Basic credentials)', async () => {
    const regs = (r: unknown) => configSchema.safeParse({ gate: { registries: [r] } });
    const acr = regs({ name: 'prod', url: 'https://myacr.azurecr.io' });
    expect(acr.success && gateRegistryKind(acr.data.gate.registries[0]!)).toBe('acr');
    expect(acr.success && acr.data.gate.registries[0]).toMatchObject({ audience: 'https://management.azure.com', block: true });
    const harbor = regs({ name: 'harbor', url: 'https://harbor.example', username: 'robot', password: 'x' });
    expect(harbor.success && gateRegistryKind(harbor.data.gate.registries[0]!)).toBe('distribution');
    const wrong = regs({ name: 'prod', url: 'https://myacr.azurecr.io', username: 'admin', password: 'x' });
    expect(wrong.success).toBe(false);
    expect(wrong.error?.issues[0]?.message).toMatch(/Entra identity .*set kind: distribution/);
    expect(regs({ name: 'prod', url: 'https://myacr.azurecr.io', kind: 'distribution', username: 'admin', password: 'x' }).success).toBe(
      true,
    );
  });

  it('stops with the key, the expectation and the source of a wrong value', () => {
    const attempt = () =>
      loadConfig({
        sections: configSections,
        env: { SAFELIST_STORAGE__KIND: 's3', SAFELIST_SERVER__PORT: 'eighty', SAFELIST_SYNCH__X: '1' },
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toMatch(/storage\.kind: .*"fs"\|"azure".*environment SAFELIST_STORAGE__KIND/);
      expect(msg).toMatch(/server\.port: .*number.*environment SAFELIST_SERVER__PORT/);
      expect(msg).toMatch(/synch: not a setting Safelist knows \(from environment SAFELIST_SYNCH__X\)/);
    }
  });

  it('requires Azure settings when storage.kind is azure', () => {
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_STORAGE__KIND: 'azure' } })).toThrow(
      /storage\.azure: .*connectionString or storage\.azure\.accountUrl/,
    );
  });

  it('rejects malformed durations and view names', () => {
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_VIEWS: '{"Team A": {}}' } })).toThrow(/views/);
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_VIEWS: '{"team-a": {"cooldown": "a week"}}' } })).toThrow(
      /views\.team-a\.cooldown: a duration/,
    );
  });

  it('publishes nowhere unless publish.target is set (it must never default to the main store)', () => {
    expect(configSchema.parse({}).publish.target).toBeUndefined();
    expect(configSchema.parse({ publish: { target: { kind: 'fs', path: '/srv/site' } } }).publish.target).toMatchObject({
      kind: 'fs',
      path: '/srv/site',
    });
  });
});
