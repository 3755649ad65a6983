// PyPI's configuration section (`pypi:` in safelist.yaml, SAFELIST_PYPI__… variables): the upstream
// simple indexes. Declared here and composed into the whole schema by the registry; read only by
// this folder, through pypiConfig.of(config). It must never change a key or default users rely on.
import { z } from 'zod';
import { configSection } from '../../config/schema.js';

export const pypiUpstreamSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  /** Base URL of a PEP 503/691 simple index, e.g. https://pypi.org/simple/ */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of a simple index' }),
  /** Optional HTTP basic credentials or token for the upstream, never logged. */
  username: z.string().optional(),
  password: z.string().optional(),
});

export const pypiConfig = configSection(
  'pypi',
  z
    .strictObject({
      upstreams: z.array(pypiUpstreamSchema).default([]),
    })
    .prefault({}),
);

export type PypiUpstreamConfig = z.infer<typeof pypiUpstreamSchema>;
