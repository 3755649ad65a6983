// PyPI's part of workspace onboarding: the pip.conf that makes Safelist a workspace's only index.
// pip gets `index-url` only, never `extra-index-url` (an extra index lets a public name shadow a
// private one: dependency confusion). The base URL comes from the caller (server.publicUrl or the
// listen address), never from a request's Host header.
import type { OnboardingQuery, OnboardingSnippet } from '../types.js';

export function pypiOnboarding({ base, view, token }: OnboardingQuery): OnboardingSnippet {
  const url = new URL(base);
  const pipIndex = token ? withToken(`${base}/pypi/${view}/simple/`, token) : `${base}/pypi/${view}/simple/`;
  const text = [
    '# /etc/pip.conf (or $VIRTUAL_ENV/pip.conf): Safelist is the only index.',
    '# Never add extra-index-url: a public package with a private name would win (dependency confusion).',
    '[global]',
    `index-url = ${pipIndex}`,
    ...(url.protocol === 'http:' ? [`trusted-host = ${url.hostname}`] : []),
    '',
  ].join('\n');
  return {
    key: 'pipConf',
    id: 'pip',
    title: 'pip.conf',
    text,
    environment: { PIP_INDEX_URL: pipIndex },
    azureMl: { pipOptions: [`--index-url ${pipIndex}`] },
  };
}

/** The index URL with the token as basic-auth password (pip sends it; user "token"). */
function withToken(u: string, token: string): string {
  const x = new URL(u);
  x.username = 'token';
  x.password = token;
  return x.toString();
}
