// The core's schema migrations (audit, exceptions, advisories, gate, downloads, console, jobs)
// and the composition of every migration list into the one order the runner applies. Each
// ecosystem declares its own tables' migrations in src/ecosystems/<id>/migrations.ts; the registry
// (ecosystems/index.ts) hands them here, since state/ knows no ecosystem. Never edited once landed:
// add an entry with a new id instead. Ids form one global sequence: a core migration may build on
// an ecosystem's tables of a lower id, so the union is applied sorted by id, never list by list.
export interface Migration {
  id: string;
  sql: string;
}

/** One owner's list: the core's, or an ecosystem module's (owner is named when two lists clash). */
export interface MigrationSource {
  owner: string;
  migrations: readonly Migration[];
}

const MIGRATION_ID = /^\d{4}_[a-z0-9_]+$/;

/**
 * Every source's migrations as one list sorted by id. Refuses (throws, at start) a malformed id
 * or an id declared twice, naming both owners: two owners of one id would leave a database
 * recording as applied a migration it never ran.
 */
export function composeMigrations(sources: readonly MigrationSource[]): readonly Migration[] {
  const owners = new Map<string, string>();
  for (const { owner, migrations: list } of sources) {
    for (const m of list) {
      if (!MIGRATION_ID.test(m.id)) throw new Error(`migration "${m.id}" of ${owner}: an id is four digits, "_" and a name (0500_name)`);
      const first = owners.get(m.id);
      if (first !== undefined) throw new Error(`migration ${m.id} is declared twice (by ${first} and by ${owner}); each id has one owner`);
      owners.set(m.id, owner);
    }
  }
  return sources.flatMap((s) => s.migrations).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export const migrations: readonly Migration[] = [
  {
    id: '0050_audit_append_only',
    sql: `
      -- The audit log is append-only at the database too: UPDATE, DELETE and TRUNCATE fail.
      -- (Someone who can disable the trigger can still tamper; audit verify detects that.)
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
      END $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
      CREATE INDEX audit_log_subject ON audit_log (subject, seq);
      CREATE INDEX audit_log_at ON audit_log (at);
    `,
  },
  {
    id: '0051_exceptions',
    sql: `
      -- Exceptions requested and decided through the API (the Git-reviewed ones stay in
      -- exceptions/*.yaml). state: requested → active (approved) | rejected; active → expired | revoked.
      CREATE SEQUENCE exception_number START 1000;
      CREATE TABLE exceptions (
        id                text PRIMARY KEY,
        ecosystem         text NOT NULL,
        name              text NOT NULL,
        versions          text NOT NULL,
        view              text NOT NULL,
        reason            text NOT NULL,
        state             text NOT NULL CHECK (state IN ('requested', 'active', 'rejected', 'expired', 'revoked')),
        requested_by      text NOT NULL,
        requested_by_name text NOT NULL,
        requested_at      timestamptz NOT NULL DEFAULT now(),
        expires_at        timestamptz NOT NULL,
        decided_by        text,
        decided_by_name   text,
        decided_at        timestamptz,
        decision_note     text,
        triage            jsonb NOT NULL DEFAULT '{}'::jsonb,
        expiry_warned_at  timestamptz,
        updated_at        timestamptz NOT NULL DEFAULT now(),
        CHECK (decided_by IS NULL OR decided_by <> requested_by OR state IN ('revoked', 'expired'))
      );
      CREATE INDEX exceptions_state ON exceptions (state, expires_at);
      CREATE INDEX exceptions_name ON exceptions (ecosystem, name);
    `,
  },
  {
    id: '0052_advisories',
    sql: `
      -- OSV advisories imported for triage; packages holds 'ecosystem:normalised-name' keys.
      CREATE TABLE advisories (
        id        text PRIMARY KEY,
        packages  text[] NOT NULL,
        modified  timestamptz,
        data      jsonb NOT NULL
      );
      CREATE INDEX advisories_packages ON advisories USING gin (packages);
    `,
  },
  {
    id: '0200_gate_queue',
    sql: `
      -- Registry events accepted by the gate's webhooks, once per event id (registries retry
      -- with the same id): the dedupe key and what the event claimed (never trusted as such).
      CREATE TABLE gate_events (
        event_id     text PRIMARY KEY,
        source       text NOT NULL CHECK (source IN ('distribution', 'acr', 'reconcile')),
        registry     text NOT NULL,
        repository   text NOT NULL,
        tag          text,
        digest       text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        received_at  timestamptz NOT NULL DEFAULT now()
      );
      -- One row per pushed image (registry, repository, digest): the work queue and its verdict.
      -- state: queued → (waiting for a scan) → pass | fail | no-verdict.
      CREATE TABLE gate_images (
        registry     text NOT NULL,
        repository   text NOT NULL,
        digest       text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        state        text NOT NULL CHECK (state IN ('queued', 'waiting', 'pass', 'fail', 'no-verdict')),
        attempts     integer NOT NULL DEFAULT 0,
        next_at      timestamptz NOT NULL DEFAULT now(),
        lease_until  timestamptz,
        deadline     timestamptz NOT NULL,
        reason       text,
        verdict      jsonb,
        purged       text CHECK (purged IS NULL OR purged IN ('purged', 'failed', 'report-only', 'disabled')),
        first_seen   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (registry, repository, digest)
      );
      CREATE INDEX gate_images_due ON gate_images (next_at) WHERE state IN ('queued', 'waiting');
      CREATE INDEX gate_images_digest ON gate_images (digest);
      -- Tags as the webhooks reported them, for "the verdict of repo:tag".
      CREATE TABLE gate_tags (
        registry    text NOT NULL,
        repository  text NOT NULL,
        tag         text NOT NULL,
        digest      text NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (registry, repository, tag)
      );
      -- Scan reports posted by pipelines (Trivy JSON), per digest; the newest one counts.
      CREATE TABLE gate_reports (
        id           bigserial PRIMARY KEY,
        digest       text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        format       text NOT NULL,
        findings     jsonb NOT NULL,
        posted_by    text NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX gate_reports_digest ON gate_reports (digest, id DESC);
    `,
  },
  {
    id: '0210_gate_fix_first_seen',
    sql: `
      -- When the gate first saw each finding (advisory id, package, fixed version; '' when the
      -- scanner names no version) as fixable, in any image: the clock of containers.yaml
      -- fixDeadline when the scanner does not date the fix. Written once and never updated, so
      -- neither another image nor a restart restarts the clock.
      CREATE TABLE gate_fix_seen (
        vuln_id        text NOT NULL,
        package        text NOT NULL,
        fixed_version  text NOT NULL,
        first_seen     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (vuln_id, package, fixed_version)
      );
    `,
  },
  {
    id: '0211_gate_events_eventgrid',
    sql: `
      -- Pushes delivered by Azure Event Grid (which retries, unlike ACR's native webhooks).
      ALTER TABLE gate_events DROP CONSTRAINT gate_events_source_check;
      ALTER TABLE gate_events ADD CONSTRAINT gate_events_source_check CHECK (source IN ('distribution', 'acr', 'eventgrid', 'reconcile'));
    `,
  },
  {
    id: '0212_gate_block',
    sql: `
      -- The block step before a purge (ACR: the manifest's readEnabled set to false).
      ALTER TABLE gate_images ADD COLUMN blocked text CHECK (blocked IS NULL OR blocked IN ('blocked', 'failed'));
    `,
  },
  {
    id: '0310_gate_verdict_consistency',
    sql: `
      -- generation: bumped when new scan input (a posted report) arrives for an image, so a
      -- worker pass that was already under way when it came writes back "due now" instead of
      -- its backoff, and never records a verdict drawn without it.
      ALTER TABLE gate_images ADD COLUMN generation integer NOT NULL DEFAULT 0;
      -- One consistent document: an undecided image has no verdict; a decided one has the
      -- verdict whose outcome is its state. Rows that break this are judged again (fail closed).
      UPDATE gate_images SET verdict = NULL WHERE state IN ('queued', 'waiting');
      UPDATE gate_images SET state = 'queued', verdict = NULL, next_at = now(), lease_until = NULL
        WHERE state IN ('pass', 'fail', 'no-verdict') AND (verdict IS NULL OR verdict->>'outcome' IS DISTINCT FROM state);
      ALTER TABLE gate_images ADD CONSTRAINT gate_images_verdict_matches_state CHECK (
        (state IN ('queued', 'waiting') AND verdict IS NULL) OR (state IN ('pass', 'fail', 'no-verdict') AND verdict->>'outcome' = state));
    `,
  },
  {
    id: '0400_download_log',
    sql: `
      -- Who pulled what (issue 15): one row per file served, written in batches off the request
      -- path (audit/downloads.ts) and pruned after downloads.retention. identity is the token's
      -- oid and name when package reads are authenticated, else NULL.
      CREATE TABLE download_log (
        id            bigserial PRIMARY KEY,
        at            timestamptz NOT NULL,
        view          text NOT NULL,
        ecosystem     text NOT NULL,
        name          text NOT NULL,
        version       text NOT NULL,
        sha256        text NOT NULL,
        identity_oid  text,
        identity_name text,
        client        text
      );
      CREATE INDEX download_log_package ON download_log (ecosystem, name, version);
      CREATE INDEX download_log_at ON download_log (at);
    `,
  },
  {
    id: '0401_gate_image_packages',
    sql: `
      -- The packages the contents provider found installed in an image (after its layers'
      -- whiteouts), per image digest: replaced at each scan, read by incidents and by the
      -- re-judging of passed images when a package turns out to be malicious.
      CREATE TABLE gate_image_packages (
        digest    text NOT NULL,
        ecosystem text NOT NULL,
        name      text NOT NULL,
        version   text NOT NULL,
        path      text NOT NULL,
        PRIMARY KEY (digest, path)
      );
      CREATE INDEX gate_image_packages_package ON gate_image_packages (ecosystem, name, version);
    `,
  },
  {
    id: '0430_console_sessions',
    sql: `
      -- Web console sessions, shared by every replica: the cookie carries an opaque random id,
      -- the row is found by its sha256 (a read of this table gives no usable cookie). A row
      -- without an identity is a visitor before sign-in: it holds the CSRF token of the sign-in
      -- form and, during an OpenID Connect sign-in, its state, nonce and PKCE verifier.
      CREATE TABLE console_sessions (
        id_sha256      text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
        identity       jsonb,
        csrf           text NOT NULL,
        oidc_state     text,
        oidc_nonce     text,
        oidc_verifier  text,
        return_to      text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        expires_at     timestamptz NOT NULL
      );
      CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
    `,
  },
  {
    id: '0431_exception_bundles',
    sql: `
      -- A request asked together with another (a package and the dependencies the view would
      -- still refuse): each stays its own exception, decided on its own; bundle names the first.
      ALTER TABLE exceptions ADD COLUMN bundle text REFERENCES exceptions (id);
      CREATE INDEX exceptions_bundle ON exceptions (bundle) WHERE bundle IS NOT NULL;
    `,
  },
  {
    id: '0435_job_runs',
    sql: `
      -- One row per job run (jobs/runs.ts), written by the runner whoever started it: running
      -- with its progress (a summary of its events, refreshed with heartbeat_at while it runs),
      -- then done or failed with a summary of its result or its error. A run whose process died
      -- stays 'running' with an old heartbeat; readers call it abandoned. Old rows are pruned.
      CREATE TABLE job_runs (
        id           bigserial PRIMARY KEY,
        job          text NOT NULL,
        actor        text NOT NULL,
        params       jsonb NOT NULL DEFAULT '{}',
        status       text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        started_at   timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        progress     jsonb NOT NULL DEFAULT '{}',
        summary      jsonb,
        error        text
      );
      CREATE INDEX job_runs_job ON job_runs (job, id DESC);
    `,
  },
  {
    id: '0436_audit_log_filters',
    sql: `
      -- The console's audit trail filters by action or actor, newest first: without these a
      -- rare action is found by walking the whole trail backwards.
      CREATE INDEX audit_log_action ON audit_log (action, seq);
      CREATE INDEX audit_log_actor ON audit_log (actor, seq);
    `,
  },
  {
    id: '0460_image_incident_indexes',
    sql: `
      -- Image incidents (gate/image-incidents.ts): who pulled a manifest, by its digest, and the
      -- gate's audit records of a digest (subjects end in it: "<registry>/<repo>@sha256:…" or the bare digest).
      CREATE INDEX download_log_sha256 ON download_log (sha256) WHERE ecosystem = 'oci';
      CREATE INDEX audit_log_gate_digest ON audit_log ((substring(subject from '(sha256:[0-9a-f]{64})$'))) WHERE action LIKE 'gate.%';
    `,
  },
];
