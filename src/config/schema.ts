// The one description of Safelist's configuration. Everything that can be set lives here,
// with its default; the loader validates a file plus environment overrides against it once.
import { z } from 'zod';

const duration = z
  .string()
  .regex(/^(\d+)(s|m|h|d|w)$/, 'a duration such as 90s, 30m, 12h, 7d or 2w');

const viewName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

export const viewSchema = z.strictObject({
  /** Hold back upstream versions younger than this (a cool-down against fresh malware). */
  cooldown: duration.optional(),
  description: z.string().optional(),
});

export const upstreamSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  /** Base URL of a PEP 503/691 simple index, e.g. https://pypi.org/simple/ */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of a simple index' }),
  /** Optional HTTP basic credentials or token for the upstream, never logged. */
  username: z.string().optional(),
  password: z.string().optional(),
});

export const ociUpstreamSchema = z.strictObject({
  /** Short name used in policy names and URLs: /v2/<name>/<repository>/… ("views" is reserved). */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes').refine((n) => n !== 'views', '"views" is reserved for /v2/views/<view>/…'),
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
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.coerce.number({ error: 'a TCP port number from 0 to 65535' }).int('a TCP port number from 0 to 65535').min(0, 'a TCP port number from 0 to 65535').max(65535, 'a TCP port number from 0 to 65535').default(8080),
      /** Public base URL, used only in messages that tell a user where to go. */
      publicUrl: z.url().optional(),
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  storage: z
    .strictObject({
      kind: z.enum(['fs', 'azure']).default('fs'),
      path: z.string().default('./data/blobs'),
      azure: z
        .strictObject({
          connectionString: z.string().optional(),
          accountUrl: z.url().optional(),
          container: z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'a valid blob container name').default('safelist'),
        })
        .prefault({}),
    })
    .prefault({})
    .refine((s) => s.kind !== 'azure' || s.azure.connectionString || s.azure.accountUrl, {
      message: 'storage.kind is azure: set storage.azure.connectionString or storage.azure.accountUrl',
      path: ['azure'],
    }),
  database: z
    .strictObject({
      /** postgres://… selects a PostgreSQL server; otherwise PGlite runs in-process. */
      url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
      /** PGlite data folder, or memory:// for a throw-away database. */
      pglitePath: z.string().default('./data/pglite'),
    })
    .prefault({}),
  policy: z
    .strictObject({
      allowlistDir: z.string().default('./allowlists'),
      exceptionsDir: z.string().default('./exceptions'),
      /** What a blocked user is told to do; shown in every refusal. {name} and {view} are filled in. */
      requestHint: z.string().default('run "safelist why {name} --view {view}" to see how to request an exception'),
    })
    .prefault({}),
  views: z.record(viewName, viewSchema).default({}),
  pypi: z
    .strictObject({
      upstreams: z.array(upstreamSchema).default([]),
    })
    .prefault({}),
  oci: z
    .strictObject({
      upstreams: z.array(ociUpstreamSchema).default([]),
      acrTarget: acrTargetSchema.optional(),
    })
    .prefault({}),
  sync: z
    .strictObject({
      /** node-cron expression; empty disables the scheduled sync. */
      schedule: z.string().default('17 * * * *'),
      concurrency: z.coerce.number().int().min(1).max(64).default(8),
      /** Per-request timeout for upstream calls. */
      timeout: duration.default('60s'),
      runOnStart: z.union([z.boolean(), z.stringbool()]).default(false),
    })
    .prefault({}),
  cache: z
    .strictObject({
      /** Upper bound for rendered index documents held in memory. */
      maxBytes: z.coerce.number().int().min(1_000_000).default(256 * 1024 * 1024),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ViewConfig = z.infer<typeof viewSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type OciUpstreamConfig = z.infer<typeof ociUpstreamSchema>;
export type AcrTargetConfig = z.infer<typeof acrTargetSchema>;

export function durationMs(d: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
