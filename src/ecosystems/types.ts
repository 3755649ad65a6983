// The one seam between Safelist's core and an ecosystem (PyPI, conda, OCI, npm…): what an
// ecosystem folder must provide so that the runtime, the HTTP app, the job runner, the CLI,
// `why`, triage, advisories, lint, incidents, static publish and the gate's contents check can
// loop over the registry (ecosystems/index.ts) instead of naming ecosystems.
// Two halves: the module (static, known before anything opens: id, grammar, its configuration
// section and schema migrations, job parameters, name helpers, the contents matcher) and what `open()` returns (the catalog and read model of
// one runtime, and the roles that need them: routes, sync, import, publish, explain, triage).
// Optional members are roles an ecosystem lacks (OCI has no importer, no static publish).
// It must never grow a member that only one ecosystem would call by name: a role is a role of
// every module that has it, and never carry what the core would read from one ecosystem's
// configuration (a module reads its own section). Additive changes only (npm implements it from
// this file); the one removal, RouteDeps.gzip, went when conda came to read conda.gzip itself.
import type { TokenCredential } from '@azure/core-auth';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Config, ConfigSection } from '../config/schema.js';
import type { CatalogReloads } from '../catalog/reload.js';
import type { SafelistError } from '../errors.js';
import type { Policy } from '../policy/decide.js';
import type { PolicyStore } from '../policy/store.js';
import type { Decision, PolicyGrammar, Rule } from '../policy/types.js';
import type { Db } from '../state/db.js';
import type { Migration } from '../state/migrations.js';
import type { ServedFile } from '../serve/blob-response.js';
import type { BlobStore } from '../storage/types.js';

// ---------------------------------------------------------------------------------------------
// The module: static roles.

export interface EcosystemModule {
  /** The ecosystem's id: the `ecosystem` of rules, exceptions, audit subjects, URLs' first segment. */
  readonly id: string;
  /** Its name for people ("PyPI", "conda", "OCI images", "npm"). */
  readonly label: string;
  /** How policy files and requests spell names and version ranges. */
  readonly grammar: PolicyGrammar;
  /** Its top-level configuration section (key = id), read by this module alone through `config.of()`; absent: none. */
  readonly config?: ConfigSection;
  /** The migrations of its own tables, ids from the one global sequence (the registry composes them with the core's). */
  readonly migrations?: readonly Migration[];
  /** Names shared with advisories, `why`, triage and the CLI. */
  readonly names: EcosystemNames;
  /** Which request URLs are this ecosystem's read path (metrics surface, package-read auth, error dialect). */
  readonly surface: EcosystemSurface;
  /** The background sync from an upstream (absent: nothing to sync). */
  readonly sync?: SyncSpec;
  /** Import of packages from a local folder (absent: OCI). */
  readonly importer?: ImportSpec;
  /** Jobs of its own beyond sync and import (OCI: the ACR import), run by the core's runner like any job. */
  readonly jobs?: readonly ModuleJobSpec[];
  /** The gate's contents check: which files in an image's layers are this ecosystem's installed packages. */
  readonly contents?: ContentsMatcher;
  /** `safelist allowlist lint`: a loaded rule that the configuration makes useless (an unknown channel or registry). */
  lintRule?(rule: Rule, config: Config): string | undefined;
  /** The console's install snippet: the client command that installs `name` (at `version`) in `view` from Safelist at `base`. */
  installSnippet(q: InstallQuery): string;
  /** Workspace onboarding: the client configuration that points a workspace's client at Safelist alone (absent: none). */
  onboarding?(q: OnboardingQuery): OnboardingSnippet;
  /** Opens the catalog and read model (a runtime does this once per process). */
  open(ctx: OpenContext): Promise<OpenEcosystem>;
}

export interface InstallQuery {
  config: Config;
  /** Safelist's base URL as workspaces reach it (server.publicUrl or the listen address; never a Host header). */
  base: string;
  view: string;
  /** Normalised name. */
  name: string;
  /** A version or tag to pin; absent: the client's own choice (the newest allowed). */
  version?: string;
}

export interface OnboardingQuery {
  config: Config;
  /** Safelist's base URL as workspaces reach it, without a trailing slash (never a Host header). */
  base: string;
  view: string;
  /** A token to embed where the client cannot read one from its environment; absent: none embedded. */
  token?: string;
}

/** One client's configuration for a workspace (pip.conf, .condarc…), as the API, the CLI and the console show it. */
export interface OnboardingSnippet {
  /** Its field in GET /api/v1/workspaces/{view}/config ("pipConf"), and its element id in the console ("pip"). */
  key: string;
  id: string;
  /** Its heading for people ("pip.conf"). */
  title: string;
  text: string;
  /** Environment variables that say the same to the client (PIP_INDEX_URL). */
  environment: Record<string, string>;
  /** What an Azure ML environment definition (a conda environment on a base image) takes from this ecosystem. */
  azureMl?: { image?: string; condaChannels?: string[]; pipOptions?: string[] };
}

export interface EcosystemNames {
  /** The OSV `ecosystem` name whose advisories are about this ecosystem's packages ("PyPI", "npm"); absent: none imported. */
  readonly osv?: string;
  /** Does an entry of a sync report's `failed` list (a file name, or "name/" for a whole project) belong to `name` (normalised)? */
  fileOf(name: string, filename: string): boolean;
  /** `safelist why NAME` without --ecosystem: does this name look like one of ours (an image has a slash)? Tried in registry order. */
  claims?(name: string): boolean;
  /** What a mirrored item is called in messages ("file", "tag", "tarball"). */
  readonly item: string;
  /** The spellings a typosquat check compares for a (normalised) name (npm: a scoped name's bare name too); default the name alone. */
  variants?(name: string): string[];
  /** Does one OSV `affected` entry cover this version, in this ecosystem's version order? Absent: PEP 440 order. */
  osvAffects?(entry: OsvAffectedEntry, version: string): boolean;
}

/** One `affected` entry of an OSV record (https://ossf.github.io/osv-schema/), as advisories and triage read it. */
export interface OsvAffectedEntry {
  package?: { ecosystem?: string; name?: string };
  versions?: string[];
  ranges?: Array<{ type?: string; events?: Array<{ introduced?: string; fixed?: string; last_affected?: string; limit?: string }> }>;
}

/** The parts of an OSV record a read path answers from (npm audit): typed here since ecosystems may not import exceptions/. */
export interface OsvAdvisory {
  id: string;
  summary?: string;
  details?: string;
  withdrawn?: string;
  aliases?: string[];
  references?: Array<{ type?: string; url?: string }>;
  severity?: Array<{ type?: string; score?: string }>;
  affected?: OsvAffectedEntry[];
  database_specific?: { severity?: string; cwe_ids?: string[] };
}

/** The imported advisories (exceptions/advisories.ts AdvisoryStore): every record, withdrawn ones too, naming any of these packages. */
export interface AdvisorySource {
  recordsFor(osvEcosystem: string, names: string[]): Promise<OsvAdvisory[]>;
}

export interface EcosystemSurface {
  /** The URL prefix of the read path ("/pypi/", "/conda/", "/v2/", "/npm/"). */
  readonly prefix: string;
  /** Is this request URL on the read path (default: starts with prefix)? */
  matches?(url: string): boolean;
  /** How this ecosystem's client sends a token, for the 401 of token-protected package reads ("pip https://user:TOKEN@host/…"). */
  readonly tokenHint: string;
  /**
   * The view a read-path URL reads, for package-read grants: exactly the view its route will
   * serve; undefined for a URL of no view (OCI's /v2/ version check), which any valid token may
   * ask. Default: the path segment after the prefix (/pypi/<view>/…). No parsing beyond that.
   */
  viewOf?(url: string): string | undefined;
  /** Errors on this path in the client's own dialect (OCI's `{errors:[…]}`); default problem+json. */
  sendError?(req: FastifyRequest, reply: FastifyReply, err: SafelistError): FastifyReply;
}

// ---------------------------------------------------------------------------------------------
// Jobs. The job runner (jobs/) wraps these into `sync:<id>` and `import:<id>` jobs; the module
// never sees the runner, only what a run needs.

/** A progress event of a sync or import, streamed to the CLI and logged by the runner. */
export type EcosystemEvent = { type: string; [key: string]: unknown };

/** The progress events every sync speaks (the CLI prints them alike); an ecosystem may add its own (conda: subdir). */
export type SyncEvent =
  /** upstream null: no upstream has the name, or (with error) the one asked could not answer. */
  | { type: 'project'; name: string; upstream: string | null; files: number; toFetch: number; index: number; total: number; error?: string }
  | { type: 'fetched'; filename: string; size: number; written: boolean }
  | { type: 'failed'; filename: string; error: string }
  | { type: 'warning'; message: string };

export interface RunContext {
  config: Config;
  /** The policy at the start of the run. */
  policy: Policy;
  emit(e: EcosystemEvent): void;
  /** Aborts when the run must stop (its job lost its lock): stop between files, end transfers in flight, throw. */
  signal?: AbortSignal;
}

/** What every sync report has (the job runner records and audits it alike for every ecosystem). */
export interface SyncReportBase {
  downloaded: number;
  bytes: number;
  failed: Array<{ filename: string; error: string }>;
  missing?: unknown[];
}

export interface SyncSpec {
  /** The job's parameters (zod, strict); `dryRun` and the names to sync at least. */
  readonly params: z.ZodType<SyncParams>;
  /** The ecosystem-wide `safelist sync --ecosystem …` parameters to this job's, e.g. projects → images. */
  paramsFrom(common: { dryRun: boolean; names?: string[]; channels?: string[] }): SyncParams;
  /** Is this ecosystem part of a default sync (the schedule, `safelist sync`)? */
  inDefaultPlan(config: Config, policy: Policy): boolean;
  /** After an exception for `name` is approved: what to sync (undefined: nothing, e.g. no upstream configured). */
  afterApproval?(config: Config, name: string): SyncParams | undefined;
  /** The detail of the `sync.finished` audit record. */
  auditDetail(report: SyncReportBase, params: SyncParams): Record<string, unknown>;
  /** A job to run after a (non-dry) sync, by name and parameters (OCI: the ACR import when configured). */
  followUp?(config: Config): { job: string; params: unknown } | undefined;
  /** What the CLI prints on stdout for a finished run: a dry run's plan, or one JSON summary line. */
  summary(report: SyncReportBase, dryRun: boolean): string[];
  /** A progress line for an event of this ecosystem's own (not a shared SyncEvent), e.g. conda's subdir. */
  eventLine?(e: EcosystemEvent): string | undefined;
}

export type SyncParams = { dryRun?: boolean } & Record<string, unknown>;

export interface ImportSpec {
  /** The job's parameters (zod, strict): `dir` (absolute) and the ecosystem's own (conda: channel). */
  readonly params: z.ZodType<ImportParams>;
  /** The CLI's `safelist import <id> DIR [--channel C]` arguments to the job's parameters, or a usage error. */
  fromArgs(dir: string, options: Record<string, string | undefined>): ImportParams | { error: string };
  /** The detail of the `import.finished` audit record. */
  auditDetail(report: ImportReportBase, params: ImportParams): Record<string, unknown>;
  /** The one JSON summary line the CLI prints for a finished import. */
  summary(report: ImportReportBase): Record<string, unknown>;
  /** The CLI's usage line for this ecosystem's import ("safelist import conda DIR [--channel NAME]"). */
  readonly usage: string;
}

export type ImportParams = { dir: string } & Record<string, unknown>;

/** A job of the module's own: the runner takes its lock, records and audits it; OpenEcosystem.runJob runs it. */
export interface ModuleJobSpec {
  /** The job's name (API hand-off, `safelist <name>`, a sync's followUp). */
  readonly name: string;
  readonly lock: string;
  /** The job's parameters (zod, strict). */
  readonly params: z.ZodType<Record<string, unknown>>;
  /** Why it cannot run with this configuration (the job answers 400, the CLI exits 2 with it); undefined: it can. */
  unavailable?(config: Config): string | undefined;
  /** The run's audit record; undefined: nothing to record (a dry run, nothing moved). */
  audit?(
    result: unknown,
    params: Record<string, unknown>,
  ): { action: string; subject: string; detail: Record<string, unknown> } | undefined;
  /** A progress line for one of its events (the CLI's stderr); undefined: not printed. */
  eventLine?(e: EcosystemEvent): string | undefined;
  /** What the CLI prints for a finished run, and its exit code (1: the run found problems). */
  report(result: unknown): { out: string[]; err: string[]; exit: number };
}

/** What a module's job runs with: a sync's context, and the Azure identity a server was given (tests give a stub's). */
export interface ModuleJobContext extends RunContext {
  azure?: { credential?: TokenCredential; clientOptions?: { tlsOptions?: { ca?: string } } };
}

export interface ImportReportBase {
  imported: Array<{ filename: string }>;
  skipped: Array<{ path: string; reason: string }>;
}

// ---------------------------------------------------------------------------------------------
// The gate's contents check: the provider walks every layer (whiteouts applied) and asks each
// module about each path; a record found is decided by policy in the image's view.

export interface ContentsMatcher {
  /**
   * A layer entry's path: undefined when it is no package record of this ecosystem; a package
   * when the path alone says which (a zipped egg); `read` when the record's head is needed.
   */
  match(path: string): { read: true } | FoundName | undefined;
  /** Name and version from the head (at most 1 MiB) of a record match() asked to read; undefined when it names nothing. */
  parse(path: string, head: Buffer): FoundName | undefined;
  /** Is a path one whose replacement by another entry type (a folder where a file was) removes a record? */
  isRecordPath?(path: string): boolean;
}

export interface FoundName {
  name: string;
  version: string;
}

// ---------------------------------------------------------------------------------------------
// What open() returns: one runtime's catalog, read model and the roles that need them.

export interface OpenContext {
  config: Config;
  db: Db;
  store: BlobStore;
  policies: PolicyStore;
  /** Retries (logs, counts) failed catalog reloads; shared by every catalog of the runtime. */
  reloads: CatalogReloads;
}

/** The replicated catalog as the core sees it: changes to follow, reloads to ask for, a close. */
export interface CatalogHandle {
  /** Called whenever some entry changes (the core only needs to know that something did). */
  onChange(fn: () => void): () => void;
  reloadAllLater(): void;
  close(): Promise<void>;
}

export interface OpenEcosystem {
  readonly module: EcosystemModule;
  readonly catalog: CatalogHandle;
  /** The read model (its own type; the module's routes and roles use it, the core only passes it on). */
  readonly readModel: unknown;
  /** Registers the read path (hot path: no hooks or middleware). */
  routes(app: FastifyInstance, deps: RouteDeps): void;
  /** Facts for `why`: versions known for a name and their decision in a view (undefined: nothing known here). */
  explain(name: string, view: string): ExplainFacts;
  /** Every name the catalog knows (normalised), for the console's search; re-read after catalog.onChange. */
  catalogNames(): Iterable<string>;
  /** Runs the sync (when module.sync is set). */
  sync?(params: SyncParams, ctx: RunContext): Promise<SyncReportBase>;
  /** Runs an import from a folder (when module.importer is set). */
  import?(params: ImportParams, ctx: RunContext): Promise<ImportReportBase>;
  /** Runs one of module.jobs by name, with parameters its spec validated. */
  runJob?(name: string, params: Record<string, unknown>, ctx: ModuleJobContext): Promise<unknown>;
  /** Writes a view's static tree under `<id>/<view>/` of a publish target (absent: not published). */
  publish?(view: string, out: PublishSink): Promise<void>;
  /** Triage of an exception request beyond what the core checks (upstream versions, dependencies, licence). */
  triage?(req: TriageQuery): Promise<TriageFacts>;
  /** `safelist allowlist check`: whether what each view allows can be installed together. */
  check?(views: string[], policy: Policy): Promise<InstallCheck>;
  /** Cache and size figures for /metrics (optional). */
  stats?(): Record<string, number>;
  /** What the mirror knows of images, for incidents about an image (an image ecosystem only). */
  readonly images?: ImageIndex;
}

/** Tags and references of mirrored images: an image incident expands a tag to the digests it named. */
export interface ImageIndex {
  tagDigest(name: string, tag: string): string | undefined;
  image(name: string): { refs: Map<string, Array<{ child: string; kind: 'manifest' | 'blob' }>> } | undefined;
}

/** The image index of whichever open ecosystem has one (undefined when none does). */
export function imageIndexOf(opened: ReadonlyMap<string, OpenEcosystem>): ImageIndex | undefined {
  for (const e of opened.values()) if (e.images) return e.images;
  return undefined;
}

export interface RouteDeps {
  store: BlobStore;
  policies: PolicyStore;
  /** A file about to be sent (GET), for the download log; must return at once. */
  onServed?(e: ServedEvent): void;
  /** Every refusal (demand insight, the blocked-requests metric). */
  onBlocked?(e: { view: string; name: string }): void;
  /** Imported advisories, for a read path that answers audits from them (npm's bulk advisory endpoint); absent: not served. */
  advisories?: AdvisorySource;
}

/** A file about to be sent: who (view, client, identity) gets which package version's bytes. */
export interface ServedEvent extends ServedFile {
  /** The file's name as the client asked for it (an OCI reference for manifests and blobs). */
  filename: string;
  /** False for what a client reads to resolve but is no download of the package (a PyPI .metadata file). */
  download: boolean;
}

export interface ExplainFacts {
  /** Whether this runtime's catalog was consulted (without it nothing is known about storage). */
  consulted: boolean;
  /** Each version known, with its label ("1.2 py_0 (conda-forge/noarch)"), whether stored, and its decision in the view. */
  versions: ExplainedVersion[];
  /** Why the whole name is refused in the view although a rule allows it (PyPI PEP 792 quarantine). */
  pageRefusal?: string;
}

export interface ExplainedVersion {
  label: string;
  /** The version or tag alone (an install snippet pins it). */
  version: string;
  /** What a request for exactly this one names in the grammar ("==1.2" for PyPI, the tag for OCI). */
  range: string;
  stored: boolean;
  decision: Decision;
}

export interface PublishSink {
  /** Writes a rendered document (relative key under the ecosystem's view prefix). */
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Writes a document named by its content (a CEP 16 shard) unless the target already has it with that size. */
  putImmutable(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Copies a content-addressed blob unless the target already has it with that size. */
  copy(key: string, sha256: string, size: number | undefined): Promise<void>;
}

export interface TriageQuery {
  name: string;
  /** The requested range in the grammar's syntax. */
  versions: string;
  /** The request's view, or '*' for a global exception. */
  view: string;
  policy: Policy;
}

export interface TriageFacts {
  /** Whether the upstream (or the catalog of it) knows the name; a note when it cannot say. */
  known: boolean;
  versions: string[];
  matching: string[];
  note?: string;
  /** Dependencies of the newest matching version that some view in question does not allow. */
  dependencies?: { checked: boolean; notAllowed: Array<{ requirement: string; name: string }>; note?: string };
  licence?: string | null;
  /** Versions to look up in advisories when none is known to match (an exact pin in the request). */
  advisoryVersions?: string[];
}

export interface InstallCheck {
  /** One line per problem, as `safelist allowlist check` prints it after "view V: " (it names its ecosystem or channel). */
  problems: Array<{ view: string; text: string; detail: Record<string, unknown> }>;
  /** Views in which the catalog offers something allowed (a check elsewhere is vacuous). */
  offered: string[];
  /** Whether the catalog has any record at all (nothing synced or imported yet, otherwise). */
  hasRecords: boolean;
}
