// OCI's schema migrations: the mirrored images (oci_manifests, oci_refs, oci_tags) and the ACR import ledger.
// Applied together with the core's (src/state/migrations.ts) and every other module's, in one
// global id order (ecosystems/index.ts composes them). Never edited once landed: an existing database
// records each id as applied and never runs it again; add an entry (new id) instead. Ids come from
// the one global sequence (a duplicate anywhere is refused at start).
import type { Migration } from '../../state/migrations.js';

export const migrations: readonly Migration[] = [
  {
    id: '0100_oci_catalog',
    sql: `
      -- Mirrored container images. name is <registry>/<repository>; manifests and blobs are
      -- bytes in the blob store under their sha256. A repository's rows say which digests
      -- belong to it, so a digest is only ever served through a repository that holds it.
      CREATE TABLE oci_manifests (
        name        text NOT NULL,
        digest      text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        media_type  text NOT NULL,
        size        bigint NOT NULL CHECK (size >= 0),
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, digest)
      );
      -- What a manifest references: platform manifests of an index, config and layers of an image.
      CREATE TABLE oci_refs (
        name        text NOT NULL,
        parent      text NOT NULL,
        child       text NOT NULL CHECK (child ~ '^sha256:[0-9a-f]{64}$'),
        kind        text NOT NULL CHECK (kind IN ('manifest', 'blob')),
        media_type  text NOT NULL,
        size        bigint NOT NULL CHECK (size >= 0),
        platform    text,
        PRIMARY KEY (name, parent, child),
        FOREIGN KEY (name, parent) REFERENCES oci_manifests (name, digest) ON DELETE CASCADE
      );
      -- Tags as last synced; a tag is written only once everything it reaches is stored.
      CREATE TABLE oci_tags (
        name       text NOT NULL,
        tag        text NOT NULL,
        digest     text NOT NULL,
        source     text NOT NULL,
        synced_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, tag),
        FOREIGN KEY (name, digest) REFERENCES oci_manifests (name, digest)
      );
    `,
  },
  {
    id: '0220_oci_acr_imports',
    sql: `
      -- What the ACR target holds from Safelist: one row per target registry and tag, with the
      -- digest imported, so each run imports only what is new or has moved.
      CREATE TABLE oci_acr_imports (
        registry     text NOT NULL,
        name         text NOT NULL,
        tag          text NOT NULL,
        digest       text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        imported_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (registry, name, tag)
      );
    `,
  },
];
