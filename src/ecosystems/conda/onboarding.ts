// conda's part of workspace onboarding: the .condarc that sends every channel through Safelist.
// `channel_alias` makes every named channel (`-c conda-forge`) resolve through Safelist,
// `default_channels` makes `defaults` do so too, `allowlist_channels` makes an explicit URL to
// another server fail in the client, and `#!final` keeps a user's own .condarc from overriding
// them. The base URL comes from the caller, never from a request's Host header.
import type { OnboardingQuery, OnboardingSnippet } from '../types.js';
import { condaConfig } from './config.js';

export function condaOnboarding({ config, base, view, token }: OnboardingQuery): OnboardingSnippet {
  const alias = token ? `${base}/t/${token}/conda/${view}` : `${base}/conda/${view}`;
  const channels = condaConfig.of(config).channels.map((c) => c.name);
  const text = [
    '# /opt/miniconda/.condarc (Azure ML base images) or /anaconda/.condarc (compute instances).',
    '# #!final keeps user .condarc files from overriding these keys.',
    `channel_alias: ${alias}  #!final`,
    'default_channels:  #!final',
    ...channels.map((c) => `  - ${alias}/${c}`),
    'channels:  #!final',
    ...channels.map((c) => `  - ${c}`),
    'allowlist_channels:  #!final',
    ...channels.map((c) => `  - ${alias}/${c}`),
    'channel_priority: strict',
    '',
  ].join('\n');
  return {
    key: 'condarc',
    id: 'condarc',
    title: '.condarc',
    text,
    environment: { CONDA_CHANNEL_ALIAS: alias },
    azureMl: { condaChannels: channels.map((c) => `${alias}/${c}`) },
  };
}
