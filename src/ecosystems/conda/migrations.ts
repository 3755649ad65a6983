// conda's schema migrations: its catalog tables (conda_packages, conda_subdirs) and their later columns.
// Applied together with the core's (src/state/migrations.ts) and every other module's, in one
// global id order (ecosystems/index.ts composes them). Never edited once landed: an existing database
// records each id as applied and never runs it again; add an entry (new id) instead. Ids come from
// the one global sequence (a duplicate anywhere is refused at start).
import type { Migration } from '../../state/migrations.js';

export const migrations: readonly Migration[] = [
  {
    id: '0002_conda_catalog',
    sql: `
      -- One row per conda package record Safelist knows of, per channel and subdir: stored
      -- ones (bytes in the blob store) and upstream-only ones (known, not served). record is
      -- the upstream repodata record as compact JSON, served unchanged (hashes included).
      CREATE TABLE conda_packages (
        channel      text NOT NULL,
        subdir       text NOT NULL,
        filename     text NOT NULL,
        name         text NOT NULL,
        version      text NOT NULL,
        build        text NOT NULL,
        sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        md5          text CHECK (md5 IS NULL OR md5 ~ '^[0-9a-f]{32}$'),
        size         bigint NOT NULL CHECK (size >= 0),
        record       text NOT NULL,
        stored       boolean NOT NULL DEFAULT false,
        source       text NOT NULL,
        source_url   text,
        upload_time  timestamptz,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (channel, subdir, filename)
      );
      CREATE INDEX conda_packages_name ON conda_packages (channel, name);
      -- The last sync of each upstream channel subdir: when it last succeeded, and the last error.
      CREATE TABLE conda_subdirs (
        channel      text NOT NULL,
        subdir       text NOT NULL,
        source       text NOT NULL,
        synced_at    timestamptz,
        records      integer NOT NULL DEFAULT 0,
        last_error   text,
        error_at     timestamptz,
        PRIMARY KEY (channel, subdir)
      );
    `,
  },
  {
    id: '0370_conda_indexed_at',
    sql: `
      -- CEP 47 indexed_timestamp: when Safelist first mirrored a record (its bytes stored),
      -- served in every record and never recomputed. Records stored before this column existed
      -- get the time their row was created; upstream-only ones get theirs when first stored.
      ALTER TABLE conda_packages ADD COLUMN indexed_at timestamptz;
      UPDATE conda_packages SET indexed_at = created_at WHERE stored;
    `,
  },
];
