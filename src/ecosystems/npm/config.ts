// npm's configuration section (`npm:` in safelist.yaml, SAFELIST_NPM__… variables): upstream registries
// and the packument size limit. Declared here and composed into the whole schema by the registry;
// read only by this folder, through npmConfig.of(config). It must never change a key or default users rely on.
import { z } from 'zod';
import { configSection } from '../../config/schema.js';

/** An upstream npm registry, read by the npm sync (sync.ts). */
export const npmUpstreamSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  /** Base URL of an npm registry, e.g. https://registry.npmjs.org/ */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of an npm registry' }),
  /** Optional bearer token for the upstream (use an environment override), never logged. */
  token: z.string().optional(),
});

export const npmConfig = configSection(
  'npm',
  z
    .strictObject({
      upstreams: z.array(npmUpstreamSchema).default([]),
      /** Largest upstream packument read (it is parsed whole; the tarballs are streamed). */
      maxPackumentBytes: z.coerce
        .number()
        .int()
        .min(65_536)
        .default(64 * 1024 * 1024),
    })
    .prefault({}),
);

export type NpmUpstreamConfig = z.infer<typeof npmUpstreamSchema>;
