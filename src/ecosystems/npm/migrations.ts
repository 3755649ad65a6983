// npm's schema migrations: its catalog tables (npm_packages, npm_versions).
// Applied together with the core's (src/state/migrations.ts) and every other module's, in one
// global id order (ecosystems/index.ts composes them). Never edited once landed: an existing database
// records each id as applied and never runs it again; add an entry (new id) instead. Ids come from
// the one global sequence (a duplicate anywhere is refused at start).
import type { Migration } from '../../state/migrations.js';

export const migrations: readonly Migration[] = [
  {
    id: '0420_npm_catalog',
    sql: `
      -- npm (issue 12): one row per package Safelist follows upstream (its dist-tags, times and
      -- top-level fields as JSON text), and one per version: the upstream manifest (dist.tarball
      -- removed: every download goes through Safelist), dist.integrity and shasum as upstream, and
      -- once stored, the sha256 of the tarball (download log) beside its sha512 (the blob key).
      CREATE TABLE npm_packages (
        name       text PRIMARY KEY,
        meta       text NOT NULL,
        upstream   text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE npm_versions (
        name        text NOT NULL,
        version     text NOT NULL,
        manifest    text NOT NULL,
        integrity   text,
        shasum      text,
        sha512      text CHECK (sha512 IS NULL OR sha512 ~ '^[0-9a-f]{128}$'),
        sha256      text CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
        size        bigint,
        stored      boolean NOT NULL DEFAULT false,
        source      text NOT NULL,
        source_url  text,
        upload_time timestamptz,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, version)
      );
    `,
  },
];
