// conda's configuration section (`conda:` in safelist.yaml, SAFELIST_CONDA__… variables): channels,
// gzip and the record size limit. Declared here and composed into the whole schema by the registry;
// read only by this folder, through condaConfig.of(config). It must never change a key or default users rely on.
import { z } from 'zod';
import { configSection } from '../../config/schema.js';

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
    subdirs: z
      .array(z.string().regex(/^(noarch|[a-z0-9]+-[a-z0-9_]+)$/, 'a conda subdir such as linux-64 or osx-arm64'))
      .default(['linux-64']),
    /** Anaconda's own channels (defaults/main) restrict mirroring by their terms; mirroring them is an explicit opt-in. */
    anacondaTermsAccepted: z.boolean().default(false),
  })
  .refine((c) => c.anacondaTermsAccepted || !ANACONDA_HOSTS.test(c.url), {
    message:
      "this is one of Anaconda's channels, whose terms of service restrict mirroring; set anacondaTermsAccepted: true once your organisation holds the licence",
    path: ['anacondaTermsAccepted'],
  });

export const condaConfig = configSection(
  'conda',
  z
    .strictObject({
      /** Upstream channels; conda-forge unless configured. Anaconda's defaults are never implied. */
      channels: z
        .array(condaChannelSchema)
        .default([
          {
            name: 'conda-forge',
            url: 'https://conda.anaconda.org/conda-forge',
            alias: [],
            subdirs: ['linux-64'],
            anacondaTermsAccepted: false,
          },
        ])
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
      maxRecordBytes: z.coerce
        .number()
        .int()
        .min(4096)
        .default(4 * 1024 * 1024),
    })
    .prefault({}),
);

export type CondaConfig = z.infer<typeof condaConfig.schema>;
export type CondaChannelConfig = z.infer<typeof condaChannelSchema>;
