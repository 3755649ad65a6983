// Workspace onboarding: the client configuration that points a workspace (a view) at Safelist
// and nowhere else. pip gets `index-url` only, never `extra-index-url` (an extra index lets a
// public name shadow a private one: dependency confusion). conda gets `channel_alias` so every
// named channel (`-c conda-forge`) resolves through Safelist, `default_channels` so `defaults`
// does too, `allowlist_channels` so an explicit URL to another server fails in the client, and
// `#!final` so a user's own .condarc cannot override them. Containers get the registry host
// and image names to use; Azure ML gets an environment definition that carries the same. npm gets
// an .npmrc with Safelist as its only registry, `audit=true` (npm audit asks Safelist's advisories),
// and the token line when package reads need one: the token itself only when the caller gave it,
// else `${SAFELIST_TOKEN}`, which npm reads from the environment, so no secret lands in the file.
// The base URL in it is never taken from a request's Host header: anyone can send any Host,
// and a snippet pointing pip at their server is the attack this file exists to prevent.
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { errors } from '../errors.js';

export interface Onboarding {
  view: string;
  base: string;
  pipConf: string;
  condarc: string;
  npmrc: string;
  containers: string;
  azureMlEnvironment: string;
  environment: Record<string, string>;
}

/**
 * The base URL the snippets name: server.publicUrl, else the address the server listens on.
 * A wildcard address (0.0.0.0, ::) names no host a workspace could use: the admin must say.
 */
export function onboardingBase(publicUrl: string | undefined, listening: AddressInfo | string | null): string {
  if (publicUrl) return publicUrl;
  if (!listening || typeof listening === 'string' || listening.address === '0.0.0.0' || listening.address === '::') {
    const where = listening && typeof listening !== 'string' ? `every address (${listening.address})` : 'no TCP address';
    throw errors.publicUrlUnset(
      `Safelist listens on ${where} and server.publicUrl is not set, so it cannot tell which URL workspaces reach it at; an administrator sets server.publicUrl (e.g. https://safelist.example.com)`,
    );
  }
  const host = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;
  return `http://${host}:${listening.port}`;
}

/** The .npmrc of a view: its registry URL, and the token line npm sends as Bearer auth to that URL alone. */
export function npmrcFor(config: Config, view: string, base: string, token?: string): string {
  const registry = `${base}/npm/${view}/`;
  const needsToken = token !== undefined || config.auth.packageRead === 'token';
  return [
    '# .npmrc (the project folder, or ~/.npmrc): Safelist is the only registry.',
    '# Never add @scope:registry lines for public scopes: a scope routed elsewhere bypasses the curated set.',
    `registry=${registry}`,
    ...(needsToken ? [`${registry.replace(/^https?:/, '')}:_authToken=${token ?? '${SAFELIST_TOKEN}'}`] : []),
    'audit=true',
    '',
  ].join('\n');
}

export function workspaceConfig(config: Config, view: string, baseUrl: string, token?: string): Onboarding {
  const base = baseUrl.replace(/\/$/, '');
  const url = new URL(base);
  const withCreds = (u: string) => {
    if (!token) return u;
    const x = new URL(u);
    x.username = 'token';
    x.password = token;
    return x.toString();
  };
  const pipIndex = withCreds(`${base}/pypi/${view}/simple/`);
  const condaAlias = token ? `${base}/t/${token}/conda/${view}` : `${base}/conda/${view}`;
  const channels = config.conda.channels.map((c) => c.name);
  const registries = config.oci.upstreams.map((u) => u.name);
  const imagePrefix = view === 'default' ? `${url.host}` : `${url.host}/views/${view}`;

  const pipConf = [
    '# /etc/pip.conf (or $VIRTUAL_ENV/pip.conf): Safelist is the only index.',
    '# Never add extra-index-url: a public package with a private name would win (dependency confusion).',
    '[global]',
    `index-url = ${pipIndex}`,
    ...(url.protocol === 'http:' ? [`trusted-host = ${url.hostname}`] : []),
    '',
  ].join('\n');

  const condarc = [
    '# /opt/miniconda/.condarc (Azure ML base images) or /anaconda/.condarc (compute instances).',
    '# #!final keeps user .condarc files from overriding these keys.',
    `channel_alias: ${condaAlias}  #!final`,
    'default_channels:  #!final',
    ...channels.map((c) => `  - ${condaAlias}/${c}`),
    'channels:  #!final',
    ...channels.map((c) => `  - ${c}`),
    'allowlist_channels:  #!final',
    ...channels.map((c) => `  - ${condaAlias}/${c}`),
    'channel_priority: strict',
    '',
  ].join('\n');

  const containers = [
    `# Pull curated base images through Safelist (read-only OCI distribution API at ${url.host}).`,
    ...(registries.length
      ? registries.map(
          (r) =>
            `#   docker pull ${imagePrefix}/${r}/<repository>:<tag>     e.g. ${imagePrefix}/${r}/azureml/openmpi4.1.0-ubuntu22.04:latest`,
        )
      : ['#   (no OCI upstreams are configured on this Safelist)']),
    ...(token ? [`#   docker login ${url.host} -u token -p <your token>`] : []),
    ...(url.protocol === 'http:'
      ? [`# /etc/docker/daemon.json: { "insecure-registries": ["${url.host}"] }   (use TLS in production)`]
      : []),
    '',
  ].join('\n');

  const firstRegistry = registries[0];
  const azureMlEnvironment = [
    '# Azure ML environment (az ml environment create --file env.yml): the image comes through',
    "# Safelist and the conda/pip dependencies resolve only against this workspace's view.",
    '$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json',
    `name: safelist-${view}`,
    firstRegistry
      ? `image: ${imagePrefix}/${firstRegistry}/azureml/openmpi4.1.0-ubuntu22.04:latest`
      : 'image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest',
    'conda_file:',
    `  name: safelist-${view}`,
    '  channels:',
    ...channels.map((c) => `    - ${condaAlias}/${c}`),
    '    - nodefaults',
    '  dependencies:',
    '    - python=3.11',
    '    - pip',
    '    - pip:',
    `      - --index-url ${pipIndex}`,
    '      # your packages here, e.g. - scikit-learn==1.5.*',
    '',
  ].join('\n');

  return {
    view,
    base,
    pipConf,
    condarc,
    npmrc: npmrcFor(config, view, base, token),
    containers,
    azureMlEnvironment,
    environment: { PIP_INDEX_URL: pipIndex, CONDA_CHANNEL_ALIAS: condaAlias, NPM_CONFIG_REGISTRY: `${base}/npm/${view}/` },
  };
}
