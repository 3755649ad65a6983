// npm's part of workspace onboarding: an .npmrc with Safelist as the only registry, `audit=true`
// (npm audit asks Safelist's advisories), and the token line when package reads need one: the
// token itself only when the caller gave it, else `${SAFELIST_TOKEN}`, which npm reads from the
// environment, so no secret lands in the file. The base URL comes from the caller, never from a
// request's Host header.
import type { OnboardingQuery, OnboardingSnippet } from '../types.js';

export function npmOnboarding({ config, base, view, token }: OnboardingQuery): OnboardingSnippet {
  const registry = `${base}/npm/${view}/`;
  const needsToken = token !== undefined || config.auth.packageRead === 'token';
  const text = [
    '# .npmrc (the project folder, or ~/.npmrc): Safelist is the only registry.',
    '# Never add @scope:registry lines for public scopes: a scope routed elsewhere bypasses the curated set.',
    `registry=${registry}`,
    ...(needsToken ? [`${registry.replace(/^https?:/, '')}:_authToken=${token ?? '${SAFELIST_TOKEN}'}`] : []),
    'audit=true',
    '',
  ].join('\n');
  return { key: 'npmrc', id: 'npmrc', title: '.npmrc', text, environment: { NPM_CONFIG_REGISTRY: registry } };
}
