// PyPI's schema migrations: its catalog tables (pypi_files, pypi_projects, pypi_project_status).
// 0001 is the first migration Safelist ever had: it also creates two core tables (audit_log,
// blocked_demand) that later core migrations build on; its SQL stays as landed, so the core's
// schema starts in this module (test/state/migrations.test.ts pins that).
// Applied together with the core's (src/state/migrations.ts) and every other module's, in one
// global id order (ecosystems/index.ts composes them). Never edited once landed: an existing database
// records each id as applied and never runs it again; add an entry (new id) instead. Ids come from
// the one global sequence (a duplicate anywhere is refused at start).
import type { Migration } from '../../state/migrations.js';

export const migrations: readonly Migration[] = [
  {
    id: '0001_pypi_catalog',
    sql: `
      -- One row per distribution file Safelist knows of for an allowlisted project: stored
      -- ones (bytes in the blob store) and upstream-only ones (listed as blocked).
      CREATE TABLE pypi_files (
        sha256           text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        project          text NOT NULL,
        display_name     text NOT NULL,
        version          text NOT NULL,
        filename         text NOT NULL,
        size             bigint NOT NULL CHECK (size >= 0),
        requires_python  text,
        upload_time      timestamptz,
        yanked           text,
        metadata_sha256  text CHECK (metadata_sha256 IS NULL OR metadata_sha256 ~ '^[0-9a-f]{64}$'),
        stored           boolean NOT NULL DEFAULT false,
        metadata_stored  boolean NOT NULL DEFAULT false,
        source           text NOT NULL,
        source_url       text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        UNIQUE (project, filename)
      );
      CREATE INDEX pypi_files_project ON pypi_files (project);
      -- Upstream projects as last seen by the sync (serial for change detection).
      CREATE TABLE pypi_projects (
        project       text PRIMARY KEY,
        display_name  text NOT NULL,
        source        text NOT NULL,
        last_serial   bigint,
        synced_at     timestamptz
      );
      -- Append-only audit trail; hash-chained (prev_hash, hash) over canonical JSON.
      CREATE TABLE audit_log (
        seq        bigserial PRIMARY KEY,
        at         timestamptz NOT NULL DEFAULT now(),
        actor      text NOT NULL,
        action     text NOT NULL,
        subject    text NOT NULL,
        detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash  text NOT NULL,
        hash       text NOT NULL
      );
      -- Misses on the read path, for "most wanted blocked packages".
      CREATE TABLE blocked_demand (
        ecosystem  text NOT NULL,
        name       text NOT NULL,
        view       text NOT NULL,
        count      bigint NOT NULL DEFAULT 0,
        last_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ecosystem, name, view)
      );
    `,
  },
  {
    id: '0380_pypi_project_status',
    sql: `
      -- PEP 792 status an upstream gave a project (active is the absence of a row). Relayed by
      -- the sync: archived and deprecated are shown, quarantined blocks every file.
      CREATE TABLE pypi_project_status (
        project text PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('archived', 'deprecated', 'quarantined')),
        reason text,
        upstream text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];
