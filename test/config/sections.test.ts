// The ecosystems' configuration sections, declared in their modules (src/ecosystems/<id>/config.ts)
// and composed with the core's keys: the top-level keys and SAFELIST_<ID>__… variables users wrote
// before the move work unchanged, with the same defaults and errors naming the key; a section is
// read through its module's accessor; a key claimed twice, or a section missing from a
// configuration parsed without it, is refused loudly.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config/load.js';
import { composeConfigSchema, configSection, coreConfigSchema } from '../../src/config/schema.js';
import { condaConfig } from '../../src/ecosystems/conda/config.js';
import { configSchema, configSections, ecosystems } from '../../src/ecosystems/index.js';
import { npmConfig } from '../../src/ecosystems/npm/config.js';
import { ociConfig } from '../../src/ecosystems/oci/config.js';
import { pypiConfig } from '../../src/ecosystems/pypi/config.js';

describe('ecosystem configuration sections', () => {
  it('are one per module that declares one, keyed by its id, in registry order', () => {
    expect(configSections.map((s) => s.key)).toEqual([...ecosystems.values()].filter((m) => m.config).map((m) => m.id));
    for (const s of configSections) expect(Object.keys(coreConfigSchema.shape)).not.toContain(s.key);
  });

  it('keep the defaults users had (conda-forge, gzip on, no upstreams, the size limits)', () => {
    const { config } = loadConfig({ sections: configSections, env: {} });
    expect(pypiConfig.of(config)).toEqual({ upstreams: [] });
    expect(ociConfig.of(config)).toEqual({ upstreams: [] });
    expect(condaConfig.of(config).gzip).toBe(true);
    expect(condaConfig.of(config).maxRecordBytes).toBe(4 * 1024 * 1024);
    expect(npmConfig.of(config)).toEqual({ upstreams: [], maxPackumentBytes: 64 * 1024 * 1024 });
    // `safelist config` prints them where they always were, after views and before sync (in registry order).
    const keys = Object.keys(config);
    expect(keys.slice(keys.indexOf('views'), keys.indexOf('sync') + 1)).toEqual(['views', ...configSections.map((c) => c.key), 'sync']);
  });

  it('take the same SAFELIST_<ID>__… variables and YAML keys', () => {
    const { config, sources } = loadConfig({
      sections: configSections,
      env: {
        SAFELIST_CONDA__GZIP: 'false',
        SAFELIST_NPM__MAX_PACKUMENT_BYTES: '131072',
        SAFELIST_NPM__UPSTREAMS: JSON.stringify([{ name: 'npmjs', url: 'https://registry.npmjs.org/' }]),
        SAFELIST_OCI__ACR_TARGET: JSON.stringify({ subscriptionId: 's', resourceGroup: 'rg', registryName: 'myacr01' }),
        SAFELIST_PYPI__UPSTREAMS: JSON.stringify([{ name: 'pypi', url: 'https://pypi.org/simple/' }]),
      },
    });
    expect(condaConfig.of(config).gzip).toBe(false);
    expect(npmConfig.of(config).maxPackumentBytes).toBe(131072);
    expect(npmConfig.of(config).upstreams.map((u) => u.name)).toEqual(['npmjs']);
    expect(ociConfig.of(config).acrTarget).toMatchObject({ registryName: 'myacr01', view: 'default', afterSync: false });
    expect(pypiConfig.of(config).upstreams[0]!.url).toBe('https://pypi.org/simple/');
    expect(sources.get('conda.gzip')).toBe('environment SAFELIST_CONDA__GZIP');
  });

  it('stop with the key, the expectation and the source of a wrong value, and suggest a section key', () => {
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_NPM__MAX_PACKUMENT_BYTES: '10' } })).toThrow(
      /npm\.maxPackumentBytes: .*65536.* \(from environment SAFELIST_NPM__MAX_PACKUMENT_BYTES\)/,
    );
    expect(() =>
      loadConfig({
        sections: configSections,
        env: { SAFELIST_OCI__UPSTREAMS: JSON.stringify([{ name: 'views', url: 'https://x.example' }]) },
      }),
    ).toThrow(/oci\.upstreams\.0\.name: "views" is reserved/);
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_CONDA__GZIPP: 'true' } })).toThrow(
      /conda\.gzipp: not a setting Safelist knows \(from environment SAFELIST_CONDA__GZIPP\); did you mean SAFELIST_CONDA__GZIP\?/,
    );
  });

  it('refuse a section the loader was not given: its key is unknown, never silently dropped', () => {
    expect(() => loadConfig({ sections: [], env: { SAFELIST_NPM__MAX_PACKUMENT_BYTES: '131072' } })).toThrow(
      /npm: not a setting Safelist knows/,
    );
  });

  it('refuse a key claimed twice, and an accessor on a configuration parsed without its section', () => {
    const dup = configSection('npm', z.strictObject({}).prefault({}));
    expect(() => composeConfigSchema([...configSections, dup])).toThrow('configuration section "npm" is declared twice');
    expect(() => composeConfigSchema([configSection('server', z.object({}))])).toThrow('configuration section "server" is declared twice');
    const core = coreConfigSchema.parse({});
    expect(() => npmConfig.of(core)).toThrow('the configuration has no "npm" section');
    const full = configSchema.parse({});
    const changed = npmConfig.with(full, { ...npmConfig.of(full), maxPackumentBytes: 70_000 });
    expect(npmConfig.of(changed).maxPackumentBytes).toBe(70_000);
    expect(npmConfig.of(full).maxPackumentBytes).toBe(64 * 1024 * 1024);
  });
});
