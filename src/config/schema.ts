// The one description of Safelist's core configuration, and the composition of the sections
// each ecosystem declares in its own folder (src/ecosystems/<id>/config.ts: `pypi:`, `conda:`…).
// Everything that can be set lives in one of those, with its default; the loader validates a file
// plus environment overrides against the composed schema once. Core code never reads an
// ecosystem's section: the module that owns it does, through its ConfigSection's of().
import { z } from 'zod';
import { NO_PROXY_EXPECTED, parseNoProxyEntry, proxyUrlProblem } from './proxy.js';

const duration = z.string().regex(/^(\d+)(ms|s|m|h|d|w)$/, 'a duration such as 500ms, 90s, 30m, 12h, 7d or 2w');

const viewName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

export const viewSchema = z.strictObject({
  /** Hold back upstream versions younger than this (a cool-down against fresh malware). */
  cooldown: duration.optional(),
  description: z.string().optional(),
});

const roleName = z.enum(['requester', 'approver', 'admin', 'pipeline', 'webhook', 'auditor']);

/** A view whose packages a token reads, or '*' for every view. */
const readScope = z.union([z.literal('*'), viewName], { error: "a view name (lower-case letters, digits and dashes) or '*'" });

export const staticTokenSchema = z
  .strictObject({
    /** Stable id recorded as the actor (plays the part of Entra's oid). */
    id: z.string().min(1),
    name: z.string().optional(),
    /** The token itself (use an environment override), or its sha256 in hex. */
    token: z.string().min(16, 'at least 16 characters').optional(),
    tokenSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 lower-case hex characters')
      .optional(),
    /** API roles; none for a token that only reads packages (then `read` says which). */
    roles: z.array(roleName).default([]),
    /** Views an approver may approve for; '*' for all (admins always may). */
    views: z.array(z.string()).default([]),
    /**
     * Views whose packages this token reads when auth.packageRead is token ('*': every view; admins
     * always do). Absent: what auth.unscopedRead says; [] reads none.
     */
    read: z.array(readScope).optional(),
  })
  .refine((t) => Boolean(t.token) !== Boolean(t.tokenSha256), { message: 'set exactly one of token or tokenSha256' })
  .refine((t) => t.roles.length > 0 || t.read !== undefined, {
    message: 'give the token roles, read (the views whose packages it reads), or both',
    path: ['roles'],
  });

/**
 * Console sign-in with OpenID Connect (authorization code + PKCE): Microsoft Entra ID, or any
 * provider in tests. Without it the console signs in with a static token of auth.tokens.
 */
export const consoleOidcSchema = z.strictObject({
  /** The issuer whose discovery document is read; default https://login.microsoftonline.com/{auth.entra.tenantId}/v2.0. */
  issuer: z.url({ protocol: /^https?$/, error: 'an http(s) URL of an OpenID provider' }).optional(),
  /** The app registration's client id. */
  clientId: z.string().min(1),
  /** Its client secret (a confidential web app; use an environment override). PKCE is used either way. */
  clientSecret: z.string().min(1).optional(),
  /** Where the provider sends the browser back; default server.publicUrl + /ui/auth/callback. */
  redirectUri: z.url({ protocol: /^https?$/, error: 'an http(s) URL ending in /ui/auth/callback' }).optional(),
  /** The ID token claim holding app roles, and their prefix (as for API tokens: Safelist.Requester, …). */
  roleClaim: z.string().default('roles'),
  rolePrefix: z.string().default('Safelist.'),
  /** The ID token claim listing the user's groups (object ids), for roleGrants by group. */
  groupClaim: z.string().default('groups'),
  /**
   * Roles granted here beside the ID token's app roles: to one user (oid) or to a group's members.
   * Read on every request: a grant removed here takes effect on the next request of every session.
   */
  roleGrants: z
    .array(
      z
        .strictObject({
          user: z.string().min(1).optional(),
          group: z.string().min(1).optional(),
          roles: z.array(roleName).min(1),
          /** Views an approver may approve for; '*' for all. */
          views: z.array(z.string()).default([]),
        })
        .refine((g) => Boolean(g.user) !== Boolean(g.group), { message: 'set exactly one of user (an oid) or group (an object id)' }),
    )
    .default([]),
});

export const consoleAuthSchema = z
  .strictObject({
    /** A signed-in session ends this long after sign-in. */
    sessionTtl: duration.default('8h'),
    oidc: consoleOidcSchema.optional(),
  })
  .prefault({});

export const authSchema = z
  .strictObject({
    /** Microsoft Entra ID: bearer tokens for this app registration. */
    entra: z
      .strictObject({
        tenantId: z.string().regex(/^[0-9a-f-]{36}$/, 'the tenant GUID'),
        /** The token audience: the app's client id or Application ID URI. */
        audience: z.string().min(1),
        /** 2 (default) pins https://login.microsoftonline.com/{tid}/v2.0; 1 pins https://sts.windows.net/{tid}/. */
        tokenVersion: z.union([z.literal(1), z.literal(2)]).default(2),
        /** Overrides for sovereign clouds and tests; derived from tenantId otherwise. */
        issuer: z.string().optional(),
        jwksUri: z.url().optional(),
        /** Fetched signing keys are re-fetched (in the background) once they are this old. */
        jwksRefresh: duration.default('10m'),
        /** While the JWKS endpoint is unreachable, the last keys fetched stay in use this long; then tokens get 503. */
        jwksMaxStale: duration.default('24h'),
        roleClaim: z.string().default('roles'),
        /** App role values look like Safelist.Requester, Safelist.Approver.<view>, Safelist.Admin. */
        rolePrefix: z.string().default('Safelist.'),
      })
      .optional(),
    tokens: z.array(staticTokenSchema).default([]),
    /** Who may read packages: anyone who reaches the server, or token holders only (each reading the views it is granted). */
    packageRead: z.enum(['anonymous', 'token']).default('anonymous'),
    /**
     * What a token with no read grant (a static token without `read`, an Entra token without a
     * Safelist.Reader role) reads: none (fail closed), or all views (as before read grants existed).
     * Unset: none once any token in auth.tokens has `read`; all otherwise (a configuration written
     * before read grants), with a warning at start naming those tokens.
     */
    unscopedRead: z.enum(['none', 'all']).optional(),
    /** The web console at /ui/: its sessions and its sign-in. */
    console: consoleAuthSchema,
  })
  .refine((a) => !a.console.oidc || a.console.oidc.issuer || a.entra, {
    message: 'auth.console.oidc needs an issuer: set auth.console.oidc.issuer, or auth.entra (its tenant gives the issuer)',
    path: ['console', 'oidc', 'issuer'],
  })
  .prefault({});

/** Where bytes live: the main store, and the target of static publishing. */
const storageFields = z.strictObject({
  kind: z.enum(['fs', 'azure']).default('fs'),
  path: z.string().default('./data/blobs'),
  azure: z
    .strictObject({
      connectionString: z.string().optional(),
      accountUrl: z.url().optional(),
      container: z
        .string()
        .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'a valid blob container name')
        .default('safelist'),
      /**
       * Files at least this large are answered with a redirect to a short-lived, read-only
       * SAS URL of the blob (user delegation SAS with a managed identity), so the bytes flow
       * from Blob Storage directly. 0 (default) streams everything through Safelist.
       */
      redirectAbove: z.coerce.number().int().min(0).default(0),
      /** Lifetime of those SAS URLs. */
      redirectTtl: duration.default('10m'),
    })
    .prefault({}),
});

const azureHasCredentials = (s: { kind: string; azure: { connectionString?: string | undefined; accountUrl?: string | undefined } }) =>
  s.kind !== 'azure' || Boolean(s.azure.connectionString || s.azure.accountUrl);
const azureCredentialsMessage = {
  message: 'storage.kind is azure: set storage.azure.connectionString or storage.azure.accountUrl',
  path: ['azure'],
};

/** The main store: a local folder by default. */
export const storageSchema = storageFields.prefault({}).refine(azureHasCredentials, azureCredentialsMessage);
/** A store named explicitly (publish.target): absent unless configured. */
const explicitStorageSchema = storageFields.refine(azureHasCredentials, azureCredentialsMessage);

/** A registry whose pushes the container gate judges (reads manifests, purges failures). */
/** A gate registry's `kind` when set; otherwise acr for *.azurecr.io (and sovereign-cloud) hosts. */
export function gateRegistryKind(r: { kind?: 'distribution' | 'acr' | undefined; url: string }): 'distribution' | 'acr' {
  return r.kind ?? (/\.azurecr\.(io|us|cn)$/i.test(new URL(r.url).hostname) ? 'acr' : 'distribution');
}

export const gateRegistrySchema = z
  .strictObject({
    /** Short name used in verdicts and the audit trail. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    /** Base URL of its distribution API, e.g. https://myacr.azurecr.io */
    url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of a container registry' }),
    /** The request.host its webhook events carry; default: the URL's host. */
    host: z.string().min(1).optional(),
    /**
     * distribution: the OCI distribution API (CNCF distribution, Harbor …), Basic or anonymous
     * bearer auth. acr: Azure Container Registry's data plane with an Entra identity
     * (DefaultAzureCredential), which can also block pulls before the purge. Default: acr for
     * *.azurecr.io hosts, else distribution.
     */
    kind: z.enum(['distribution', 'acr']).optional(),
    /** acr: the Entra audience of the token exchanged for ACR tokens (ARM by default, as Defender wants). */
    audience: z
      .url({ protocol: /^https$/, error: 'an https URL such as https://management.azure.com' })
      .default('https://management.azure.com'),
    /** acr: set readEnabled=false on a failing manifest before purging it (reversible; works on locked images). */
    block: z.union([z.boolean(), z.stringbool()]).default(true),
    /** distribution: credentials for reading manifests and deleting failed ones (pull + delete); never logged. */
    username: z.string().optional(),
    password: z.string().optional(),
  })
  .refine((r) => !(gateRegistryKind(r) === 'acr' && (r.username !== undefined || r.password !== undefined)), {
    message:
      'an acr registry authenticates with an Entra identity (DefaultAzureCredential: managed or workload identity, AZURE_* variables); remove username/password, or set kind: distribution to use them',
    path: ['username'],
  });

export const gateSchema = z
  .strictObject({
    registries: z.array(gateRegistrySchema).default([]),
    /** ACR native webhooks carry no signature: the custom header configured on the webhook, and its secret. */
    acrWebhook: z
      .strictObject({
        header: z
          .string()
          .regex(/^[A-Za-z0-9-]+$/, 'an HTTP header name')
          .default('X-Safelist-Webhook-Secret'),
        secret: z.string().min(24, 'at least 24 characters (use an environment override)'),
      })
      .optional(),
    /** Where scan results come from; every provider listed must have a result for a verdict. */
    providers: z
      .array(z.enum(['reports', 'defender', 'contents']))
      .min(1, 'at least one scan provider')
      .default(['reports']),
    /** Microsoft Defender for Containers results through Azure Resource Graph (DefaultAzureCredential). */
    defender: z
      .strictObject({
        /** Subscriptions to query; empty: all the identity can read. */
        subscriptions: z.array(z.string().min(1)).default([]),
        /** ARM endpoint (only changed for sovereign clouds and tests). */
        endpoint: z
          .url({ protocol: /^https$/, error: 'an https URL (the Azure SDK sends tokens over TLS only)' })
          .default('https://management.azure.com'),
      })
      .prefault({}),
    /** Curated contents: which workspace view judges the packages inside a repository's images (first match). */
    contents: z
      .strictObject({
        views: z.array(z.strictObject({ match: z.string().min(1), view: viewName })).default([]),
      })
      .prefault({}),
    /** The container policy file (severity, counts, exceptions); relative to policy.allowlistDir. */
    policyFile: z
      .string()
      .default('containers.yaml')
      .refine(
        (f) => !/^[^/]+\.ya?ml$/.test(f) || /^containers\.ya?ml$/.test(f),
        'containers.yaml, or a path outside allowlists/ (other YAML files there are package allowlists)',
      ),
    /** How long to wait for a scan result before answering "no verdict" (never a pass). */
    scanDeadline: duration.default('6h'),
    /** First wait before asking a provider again; later waits double up to pollMax. */
    pollBase: duration.default('30s'),
    pollMax: duration.default('15m'),
    /** Delete a failing image from its registry (block first where the registry can). */
    purge: z.union([z.boolean(), z.stringbool()]).default(true),
    /** node-cron expression for listing the registries and queueing images no webhook announced; empty disables. */
    reconcileSchedule: z.string().default('*/15 * * * *'),
    /** Outgoing webhooks for verdicts that fail (and purges). */
    notify: z
      .array(
        z.strictObject({
          url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
          secret: z.string().min(16).optional(),
          passes: z.boolean().default(false),
        }),
      )
      .default([]),
  })
  .prefault({});

/** A proxy URL; its problems are told without quoting it (it may carry a password). */
const proxyUrl = z.string().superRefine((value, ctx) => {
  const problem = proxyUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Hosts that bypass the proxy: a list, or one string separated by commas or spaces as NO_PROXY writes it. */
const noProxyList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter((e) => e !== '') : v),
  z.array(
    z
      .string()
      .refine((e) => parseNoProxyEntry(e) !== undefined, { error: (issue) => `"${String(issue.input)}" is not ${NO_PROXY_EXPECTED}` }),
  ),
);

/**
 * The egress proxy every outbound call goes through (upstream indexes and files, OCI and npm
 * registries, JWKS, webhooks, advisory URLs, the Azure SDKs). Unset in the file and in SAFELIST_
 * variables, it comes from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (or their lower-case forms).
 */
export const proxySchema = z
  .strictObject({
    /** The proxy: http(s)://[user:password@]host:port. Default: HTTPS_PROXY, else HTTP_PROXY. */
    url: proxyUrl.optional(),
    /** Another proxy for plain http:// upstreams only. Default: HTTP_PROXY when it is set, else url. */
    httpUrl: proxyUrl.optional(),
    /** Hosts reached directly: names (and their subdomains), .suffixes, IPs, CIDRs, or *. Default: NO_PROXY. */
    noProxy: noProxyList.default([]),
  })
  .prefault({});

export const coreConfigSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.coerce
        .number({ error: 'a TCP port number from 0 to 65535' })
        .int('a TCP port number from 0 to 65535')
        .min(0, 'a TCP port number from 0 to 65535')
        .max(65535, 'a TCP port number from 0 to 65535')
        .default(8080),
      /** Public base URL: in messages that tell a user where to go, and in onboarding snippets (never the Host header). */
      publicUrl: z.url().optional(),
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** SIGTERM/SIGINT: the whole stop (requests, jobs, database) gets this long, then the process exits non-zero. */
      shutdownGrace: duration.default('10s'),
    })
    .prefault({}),
  storage: storageSchema,
  /**
   * Static publish mode: each view's simple tree rendered into this store (e.g. the `$web`
   * container of a static website), refreshed after policy and catalog changes.
   */
  publish: z
    .strictObject({
      target: explicitStorageSchema.optional(),
      views: z.array(z.string()).optional(),
      /** Re-publish this long after the last change (changes come in bursts). */
      debounce: duration.default('5s'),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** postgres://… selects a PostgreSQL server; otherwise PGlite runs in-process. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
        .optional(),
      /** PGlite data folder, or memory:// for a throw-away database. */
      pglitePath: z.string().default('./data/pglite'),
      /**
       * PGlite: a data-folder tarball (.tar or .tgz: PGlite's dumpDataDir) an empty database starts
       * from instead of running initdb, e.g. a pre-migrated schema or a copy of a staging database.
       * Migrations still run after it is loaded, so an older template is upgraded. Ignored when the
       * folder already holds a database, and on a PostgreSQL server.
       */
      pgliteTemplate: z.string().min(1).optional(),
      /**
       * PostgreSQL settings for embedded PGlite, passed at open (`-c name=value`). Its WebAssembly
       * heap only grows, so shared_buffers is resident memory for the process's life: PGlite's own
       * default is 128MB. 8MB is enough: the read paths never query the database (the catalogs are
       * in memory), the catalog load at start and a sync's writes are index reads of a few pages,
       * and the data files sit in the OS page cache anyway. 8MB instead of 16MB keeps 7-10 MiB out
       * of every embedded process, the sync's peak among them (bench/README.md, 2026-12-01 02:57-04:40).
       * Ignored on a PostgreSQL server, whose settings are its own.
       */
      pgliteSettings: z
        .record(z.string().regex(/^[a-z_]+$/, 'a PostgreSQL setting name'), z.string().regex(/^[A-Za-z0-9_.]+$/, 'a plain setting value'))
        .default({})
        .transform((s) => ({ shared_buffers: '8MB', ...s })),
      /** PostgreSQL: connections for requests and jobs' queries (job locks use one more, of their own). */
      poolSize: z.number().int().min(1).max(200).default(10),
      /** PostgreSQL: how long a request waits for a free connection before it answers 503 with Retry-After. */
      connectionTimeout: duration.default('10s'),
      /**
       * PostgreSQL: while jobs hold locks, their connection is asked this often, and one that gives
       * no answer within this long (a network cut that sends no reset) is ended: its jobs stop, as
       * when the connection drops, instead of running on without a lock another replica may take.
       */
      lockHeartbeat: duration.default('15s'),
    })
    .prefault({}),
  policy: z
    .strictObject({
      allowlistDir: z.string().default('./allowlists'),
      exceptionsDir: z.string().default('./exceptions'),
      /** What a blocked user is told to do; shown in every refusal. {name} and {view} are filled in. */
      requestHint: z.string().default('run "safelist why {name} --view {view}" to see how to request an exception'),
      /** Reload the policy when files in allowlistDir/exceptionsDir change (SIGHUP reloads either way). */
      watch: z.union([z.boolean(), z.stringbool()]).default(true),
      /** Quiet time after the last file event before reloading (a `git checkout` writes many files). */
      watchDebounce: duration.default('300ms'),
    })
    .prefault({}),
  views: z.record(viewName, viewSchema).default({}),
  sync: z
    .strictObject({
      /** node-cron expression; empty disables the scheduled sync. */
      schedule: z.string().default('17 * * * *'),
      concurrency: z.coerce.number().int().min(1).max(64).default(8),
      /** Per-request timeout for upstream calls (and the longest a transfer may go without a byte). */
      timeout: duration.default('60s'),
      /** Further tries of an upstream index or HEAD request that failed for a passing reason (refused, 5xx, timeout); file transfers are not retried. */
      retries: z.coerce.number().int().min(0).max(10).default(0),
      runOnStart: z.union([z.boolean(), z.stringbool()]).default(false),
    })
    .prefault({}),
  auth: authSchema,
  advisories: z
    .strictObject({
      /** OSV sources: folders of .json, .zip dumps, or http(s) URLs (e.g. an OSV PyPI all.zip mirror). */
      sources: z.array(z.string().min(1)).default([]),
      /** node-cron expression for re-importing them; empty: only at start. */
      schedule: z.string().default('23 3 * * *'),
      /** Largest advisory file (or zip entry) imported; larger ones are reported with their path and skipped. */
      maxRecordBytes: z.coerce
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      webhooks: z
        .array(
          z.strictObject({
            url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
            /** json: Safelist's own event body; teams: an Adaptive Card message for a Teams/Power Automate webhook. */
            format: z.enum(['json', 'teams']).default('json'),
            /** Only these events (default: all). */
            events: z
              .array(
                z.enum([
                  'exception.requested',
                  'exception.approved',
                  'exception.rejected',
                  'exception.revoked',
                  'exception.expiring',
                  'exception.expired',
                  'advisory.malware-blocked',
                ]),
              )
              .optional(),
            /** HMAC-SHA256 key: each body is signed in X-Safelist-Signature: sha256=<hex>. */
            secret: z.string().min(16).optional(),
          }),
        )
        .default([]),
      /** Delivery attempts per event and the first back-off; later waits double. */
      attempts: z.coerce.number().int().min(1).max(20).default(6),
      retryBase: duration.default('2s'),
    })
    .prefault({}),
  exceptions: z
    .strictObject({
      /** Validity of an exception when the request names none, and the most it may ask for. */
      defaultDuration: duration.default('30d'),
      maxDuration: duration.default('90d'),
      /** Warn (notifications) this long before an active exception expires. */
      warnBefore: duration.default('7d'),
      /** node-cron expression for the expiry job; empty disables. */
      expirySchedule: z.string().default('* * * * *'),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** node-cron expression for anchoring the audit chain head in storage; empty disables. */
      anchorSchedule: z.string().default('*/10 * * * *'),
      /** node-cron expression for the audit:verify job (the whole chain against every anchor); empty disables. Default: daily. */
      verifySchedule: z.string().default('17 3 * * *'),
      /**
       * Where the anchors go (audit/anchors.jsonl, appended to): a store that whoever administers
       * the database cannot rewrite, e.g. an Azure container under an immutability policy with
       * protected append writes (infra/bicep: safelist-audit). Default: the main storage.
       */
      anchorStorage: explicitStorageSchema.optional(),
    })
    .prefault({}),
  downloads: z
    .strictObject({
      /** How long download log rows are kept (who pulled what, for incidents); older ones are pruned. */
      retention: duration.default('90d'),
      /** node-cron expression for the prune job; empty disables. */
      pruneSchedule: z.string().default('17 * * * *'),
      /** Records held in memory before a flush; when full, new records are dropped and counted, never waited for. */
      bufferSize: z.coerce.number().int().min(1).default(10_000),
      /** A flush happens every flushInterval, or as soon as this many records wait. */
      batchSize: z.coerce.number().int().min(1).max(5000).default(500),
      flushInterval: duration.default('1s'),
    })
    .prefault({}),
  gate: gateSchema,
  network: z.strictObject({ proxy: proxySchema }).prefault({}),
  cache: z
    .strictObject({
      /** Upper bound for rendered index documents held in memory. */
      maxBytes: z.coerce
        .number()
        .int()
        .min(1_000_000)
        .default(256 * 1024 * 1024),
    })
    .prefault({}),
});

/** A loaded configuration as the core sees it: the core's keys (each ecosystem's section is there too, read by its module). */
export type Config = z.infer<typeof coreConfigSchema>;
export type ViewConfig = z.infer<typeof viewSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type ConsoleAuthConfig = z.infer<typeof consoleAuthSchema>;
export type GateConfig = z.infer<typeof gateSchema>;
export type GateRegistryConfig = z.infer<typeof gateRegistrySchema>;
export type ProxySettings = z.infer<typeof proxySchema>;

export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/** An ecosystem's top-level section (`npm:` and SAFELIST_NPM__… variables), declared by its module. */
export interface ConfigSection<T = unknown> {
  /** The top-level key (the module's id). */
  readonly key: string;
  /** Its schema, with the section's defaults (a section left out of the file gets them). */
  readonly schema: z.ZodType<T>;
  /** This section of a configuration loaded with it (composeConfigSchema); throws when it was loaded without. */
  of(config: Config): T;
  /** A copy of config with this section replaced (tests and tools that vary one setting). */
  with(config: Config, value: T): Config;
}

/** Declares a section: its key and schema, with the typed accessor its module reads it through. */
export function configSection<S extends z.ZodType>(key: string, schema: S): ConfigSection<z.output<S>> {
  return {
    key,
    schema: schema as unknown as z.ZodType<z.output<S>>,
    of(config) {
      const value = (config as unknown as Record<string, unknown>)[key];
      // A programming error, not a user's: the configuration was parsed by the core schema alone.
      if (value === undefined) throw new Error(`the configuration has no "${key}" section: load it with the registry's sections`);
      return value as z.output<S>;
    },
    with: (config, value) => ({ ...config, [key]: value }),
  };
}

/**
 * The whole schema: the core's keys with every section added, in the order given (after
 * `views`, where they always printed in `safelist config`). Refuses a section key that the core
 * or another section already has: one key, one owner.
 */
export function composeConfigSchema(sections: readonly ConfigSection[]): z.ZodType<Config> {
  const taken = new Set(Object.keys(coreConfigSchema.shape));
  for (const s of sections) {
    if (taken.has(s.key)) throw new Error(`configuration section "${s.key}" is declared twice (core or another ecosystem has it)`);
    taken.add(s.key);
  }
  const shape: Record<string, z.ZodType> = {};
  for (const [key, schema] of Object.entries(coreConfigSchema.shape)) {
    shape[key] = schema;
    if (key === 'views') for (const s of sections) shape[s.key] = s.schema;
  }
  return z.strictObject(shape).superRefine(checkReadScopes) as unknown as z.ZodType<Config>;
}

/** A token's `read` names configured views only: a misspelt view would lock a workspace out without a word at start. */
function checkReadScopes(raw: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const c = raw as unknown as Pick<Config, 'auth' | 'views'>;
  const views = ['default', ...Object.keys(c.views)];
  c.auth.tokens.forEach((t, i) => {
    for (const v of t.read ?? []) {
      if (v !== '*' && !views.includes(v))
        ctx.addIssue({
          code: 'custom',
          path: ['auth', 'tokens', i, 'read'],
          message: `view "${v}" is not configured (views: ${views.join(', ')})`,
        });
    }
  });
}
