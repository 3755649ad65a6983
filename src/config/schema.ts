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

const ANACONDA_HOSTS = /^https?:\/\/(repo\.anaconda\.com|repo\.continuum\.io|conda\.anaconda\.org\/(main|free|r|msys2|anaconda))(\/|$)/;

/** An upstream conda channel, served as /conda/{view}/{name}/ (and under each alias). */
export const condaChannelSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, dots, dashes and underscores'),
    /** Channel base URL (the folder holding noarch/, linux-64/, ...), e.g. https://conda.anaconda.org/conda-forge */
    url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of a conda channel' }),
    /** Other names that resolve to this channel (e.g. when clients use `-c cf`). */
    alias: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/)).default([]),
    /** Platform subdirs to mirror; noarch is always mirrored and served. */
    subdirs: z.array(z.string().regex(/^(noarch|[a-z0-9]+-[a-z0-9_]+)$/, 'a conda subdir such as linux-64 or osx-arm64')).default(['linux-64']),
    /** Anaconda's own channels (defaults/main) restrict mirroring by their terms; mirroring them is an explicit opt-in. */
    anacondaTermsAccepted: z.boolean().default(false),
  })
  .refine((c) => c.anacondaTermsAccepted || !ANACONDA_HOSTS.test(c.url), {
    message: "this is one of Anaconda's channels, whose terms of service restrict mirroring; set anacondaTermsAccepted: true once your organisation holds the licence",
    path: ['anacondaTermsAccepted'],
  });

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8080),
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
  conda: z
    .strictObject({
      /** Upstream channels; conda-forge unless configured. Anaconda's defaults are never implied. */
      channels: z
        .array(condaChannelSchema)
        .default([{ name: 'conda-forge', url: 'https://conda.anaconda.org/conda-forge', alias: [], subdirs: ['linux-64'], anacondaTermsAccepted: false }])
        .refine((cs) => new Set(cs.flatMap((c) => [c.name, ...c.alias])).size === cs.reduce((n, c) => n + 1 + c.alias.length, 0), {
          message: 'channel names and aliases must be unique',
        }),
      /**
       * Send repodata.json and channeldata.json gzip-encoded to clients that accept it (conda,
       * mamba and pixi all do). Off only for clients that mishandle it: @conda-org/rattler 0.3.x
       * (WASM) panics on a gzip-encoded repodata response.
       */
      gzip: z.union([z.boolean(), z.stringbool()]).default(true),
      /** Largest single upstream repodata record accepted by the streaming filter. */
      maxRecordBytes: z.coerce.number().int().min(4096).default(4 * 1024 * 1024),
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
export type CondaChannelConfig = z.infer<typeof condaChannelSchema>;

export function durationMs(d: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
