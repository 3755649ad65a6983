// Schema migrations, applied in order and never edited once landed: add a new entry instead.
export interface Migration {
  id: string;
  sql: string;
}

export const migrations: Migration[] = [
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
];
