// OCI's part of workspace onboarding: the image names to pull through Safelist's read-only
// registry (one per configured upstream), and the base image of an Azure ML environment. A view
// other than default is a path prefix. The host comes from the caller, never from a request's Host header.
import type { OnboardingQuery, OnboardingSnippet } from '../types.js';
import { ociConfig } from './config.js';

export function ociOnboarding({ config, base, view, token }: OnboardingQuery): OnboardingSnippet {
  const url = new URL(base);
  const registries = ociConfig.of(config).upstreams.map((u) => u.name);
  const imagePrefix = view === 'default' ? `${url.host}` : `${url.host}/views/${view}`;
  const text = [
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
  const first = registries[0];
  return {
    key: 'containers',
    id: 'docker',
    title: 'Docker and container images',
    text,
    environment: {},
    ...(first ? { azureMl: { image: `${imagePrefix}/${first}/azureml/openmpi4.1.0-ubuntu22.04:latest` } } : {}),
  };
}
