// OCI's configuration section (`oci:` in safelist.yaml, SAFELIST_OCI__… variables): upstream registries
// and the ACR import target. Declared here and composed into the whole schema by the registry; read
// only by this folder, through ociConfig.of(config). It must never change a key or default users rely on.
import { z } from 'zod';
import { configSection } from '../../config/schema.js';

export const ociUpstreamSchema = z.strictObject({
  /** Short name used in policy names and URLs: /v2/<name>/<repository>/… ("views" is reserved). */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes')
    .refine((n) => n !== 'views', '"views" is reserved for /v2/views/<view>/…'),
  /** Base URL of a registry speaking the distribution API, e.g. https://mcr.microsoft.com */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of a container registry' }),
  /** Optional credentials (basic auth, or for the bearer-token exchange); never logged. */
  username: z.string().optional(),
  password: z.string().optional(),
});

/** An Azure Container Registry that receives the allowlisted images (ARM importImage). */
export const acrTargetSchema = z.strictObject({
  subscriptionId: z.string().min(1),
  resourceGroup: z.string().min(1),
  registryName: z.string().regex(/^[a-zA-Z0-9]{5,50}$/, '5-50 letters and digits (an ACR name)'),
  /** The view whose allowed images are imported. */
  view: z.string().default('default'),
  /** ARM endpoint (only changed for sovereign clouds and tests). */
  endpoint: z.url().default('https://management.azure.com'),
  /** Registry URI that ACR imports from, per upstream short name; default: the upstream URL's host. */
  sourceRegistries: z.record(z.string(), z.string().min(1)).default({}),
  /** The server imports what is new or moved after every OCI sync (the CLI `safelist acr-import` always can). */
  afterSync: z.union([z.boolean(), z.stringbool()]).default(false),
});

export const ociConfig = configSection(
  'oci',
  z
    .strictObject({
      upstreams: z.array(ociUpstreamSchema).default([]),
      acrTarget: acrTargetSchema.optional(),
    })
    .prefault({}),
);

export type OciUpstreamConfig = z.infer<typeof ociUpstreamSchema>;
export type AcrTargetConfig = z.infer<typeof acrTargetSchema>;
