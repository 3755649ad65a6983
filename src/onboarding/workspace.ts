// Workspace onboarding: the client configuration that points a workspace (a view) at Safelist
// and nowhere else, one snippet per ecosystem (each module's onboarding role writes its own: the
// pip.conf without extra-index-url, the .condarc locked with #!final, the container image names,
// the .npmrc), plus the Azure ML environment definition composed from what the modules give it.
// The base URL in them is never taken from a request's Host header: anyone can send any Host,
// and a snippet pointing pip at their server is the attack this file exists to prevent.
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { ecosystems } from '../ecosystems/index.js';
import type { OnboardingSnippet } from '../ecosystems/types.js';
import { errors } from '../errors.js';

/**
 * A view's onboarding document (GET /api/v1/workspaces/{view}/config): each snippet's text under
 * its key too (pipConf, condarc, containers, npmrc), as the API has always answered.
 */
export interface Onboarding {
  view: string;
  base: string;
  snippets: Array<Omit<OnboardingSnippet, 'environment' | 'azureMl'>>;
  azureMlEnvironment: string;
  environment: Record<string, string>;
  [snippetKey: string]: unknown;
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

export function workspaceConfig(config: Config, view: string, baseUrl: string, token?: string): Onboarding {
  const base = baseUrl.replace(/\/$/, '');
  const parts = [...ecosystems.values()].flatMap((m) =>
    m.onboarding ? [m.onboarding({ config, base, view, ...(token ? { token } : {}) })] : [],
  );
  const snippets = parts.map(({ key, id, title, text }) => ({ key, id, title, text }));
  return {
    view,
    base,
    ...Object.fromEntries(snippets.map((s) => [s.key, s.text])),
    snippets,
    azureMlEnvironment: azureMlEnvironment(view, parts),
    environment: Object.assign({}, ...parts.map((p) => p.environment)) as Record<string, string>,
  };
}

/** An Azure ML environment definition (az ml environment create --file env.yml): a conda environment on a base image. */
function azureMlEnvironment(view: string, parts: OnboardingSnippet[]): string {
  const image = parts.find((p) => p.azureMl?.image)?.azureMl?.image;
  const channels = parts.flatMap((p) => p.azureMl?.condaChannels ?? []);
  const pipOptions = parts.flatMap((p) => p.azureMl?.pipOptions ?? []);
  return [
    '# Azure ML environment (az ml environment create --file env.yml): the image comes through',
    "# Safelist and the conda/pip dependencies resolve only against this workspace's view.",
    '$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json',
    `name: safelist-${view}`,
    `image: ${image ?? 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest'}`,
    'conda_file:',
    `  name: safelist-${view}`,
    '  channels:',
    ...channels.map((c) => `    - ${c}`),
    '    - nodefaults',
    '  dependencies:',
    '    - python=3.11',
    '    - pip',
    '    - pip:',
    ...pipOptions.map((o) => `      - ${o}`),
    '      # your packages here, e.g. - scikit-learn==1.5.*',
    '',
  ].join('\n');
}

/** A snippet's text by its key (pipConf, condarc…); throws when no registered ecosystem writes that one. */
export function snippetText(o: Onboarding, key: string): string {
  const s = o.snippets.find((x) => x.key === key);
  if (!s) throw new Error(`no onboarding snippet "${key}" (known: ${o.snippets.map((x) => x.key).join(', ')})`);
  return s.text;
}
