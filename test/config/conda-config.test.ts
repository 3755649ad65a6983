// The conda section of the configuration: conda-forge by default, Anaconda's channels only
// with an explicit opt-in, unique channel names and aliases, environment overrides.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSections } from '../../src/ecosystems/index.js';
import { condaConfig } from '../../src/ecosystems/conda/config.js';

describe('conda configuration', () => {
  it('defaults to conda-forge only', () => {
    const { config } = loadConfig({ sections: configSections, env: {} });
    expect(condaConfig.of(config).channels).toEqual([
      {
        name: 'conda-forge',
        url: 'https://conda.anaconda.org/conda-forge',
        alias: [],
        subdirs: ['linux-64'],
        anacondaTermsAccepted: false,
      },
    ]);
    expect(condaConfig.of(config).gzip).toBe(true);
  });

  it("refuses Anaconda's channels unless their terms are accepted explicitly", () => {
    const env = { SAFELIST_CONDA__CHANNELS: JSON.stringify([{ name: 'main', url: 'https://repo.anaconda.com/pkgs/main' }]) };
    expect(() => loadConfig({ sections: configSections, env })).toThrow(ConfigError);
    expect(() => loadConfig({ sections: configSections, env })).toThrow(
      /conda\.channels\.0\.anacondaTermsAccepted: this is one of Anaconda's channels/,
    );
    const ok = loadConfig({
      sections: configSections,
      env: {
        SAFELIST_CONDA__CHANNELS: JSON.stringify([
          { name: 'main', url: 'https://repo.anaconda.com/pkgs/main', anacondaTermsAccepted: true },
        ]),
      },
    });
    expect(condaConfig.of(ok.config).channels[0]!.name).toBe('main');
  });

  it('refuses duplicate channel names and aliases, and bad subdirs', () => {
    const dup = [
      { name: 'conda-forge', url: 'https://a.example/cf' },
      { name: 'mirror', url: 'https://b.example/cf', alias: ['conda-forge'] },
    ];
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_CONDA__CHANNELS: JSON.stringify(dup) } })).toThrow(
      /channel names and aliases must be unique/,
    );
    const bad = [{ name: 'conda-forge', url: 'https://a.example/cf', subdirs: ['Linux 64'] }];
    expect(() => loadConfig({ sections: configSections, env: { SAFELIST_CONDA__CHANNELS: JSON.stringify(bad) } })).toThrow(
      /a conda subdir such as linux-64/,
    );
  });
});
