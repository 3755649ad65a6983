// Reads the Git-reviewed policy files: allowlists/<ecosystem>.yaml and exceptions/*.yaml.
// Every problem is reported with file and line; a file with problems contributes only its
// valid entries, and callers decide whether problems are fatal (lint, start) or not.
// Each file is read once: the rules and the file's sha256 come from the same bytes, so the
// digests a reload reports are those of the policy it validated. Never reads outside the two
// folders it is given, and never follows anything but their *.yaml / *.yml entries.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import type { Ecosystem, PolicyGrammar, Rule } from './types.js';

export interface PolicyProblem {
  file: string;
  line: number;
  message: string;
}

/** One policy file as read: `allowlists/<name>` or `exceptions/<name>`, and its sha256 (hex, as sha256sum prints it). */
export interface PolicyFileDigest {
  file: string;
  sha256: string;
}

export interface LoadedPolicyFiles {
  rules: Rule[];
  problems: PolicyProblem[];
  files: string[];
  /** Every file read, allowlists first, each folder in name order. */
  digests: PolicyFileDigest[];
}

export interface PolicyDirs {
  allowlistDir: string;
  exceptionsDir: string;
}

export interface PolicyContext {
  grammars: Partial<Record<Ecosystem, PolicyGrammar>>;
  /** Views that exist; an exception for any other view is a problem. */
  views: ReadonlySet<string>;
  now?: Date;
}

async function yamlFiles(dir: string): Promise<string[]> {
  try {
    // Hidden files are editors' and tools' leftovers (emacs lock files ".#pypi.yaml", swap files), never policy.
    return (await readdir(dir))
      .filter((f) => /^[^.].*\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(dir, f));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

class FileReader {
  readonly problems: PolicyProblem[] = [];
  private readonly lines = new LineCounter();
  readonly display: string;
  constructor(readonly path: string) {
    this.display = relative(process.cwd(), path) || path;
  }

  parse(text: string): YamlNode | null {
    const doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    for (const e of doc.errors) this.problems.push({ file: this.display, line: this.lineOf(e.pos[0]), message: e.message.split('\n')[0]! });
    return doc.errors.length ? null : (doc.contents as YamlNode | null);
  }

  lineOf(offset: number | undefined): number {
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  nodeLine(node: YamlNode | null | undefined): number {
    return this.lineOf(node?.range?.[0]);
  }

  report(node: YamlNode | null | undefined, message: string): void {
    this.problems.push({ file: this.display, line: this.nodeLine(node), message });
  }
}

function scalarString(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return undefined;
}

function field(map: YAMLMap, key: string): YamlNode | undefined {
  return map.get(key, true) as YamlNode | undefined;
}

const ENTRY_KEYS = new Set(['name', 'versions', 'prereleases', 'reason', 'digests', 'platforms']);
/** conda entries also name a build-string pattern and platform subdirs. */
const CONDA_ENTRY_KEYS = new Set(['name', 'versions', 'build', 'subdirs', 'reason']);
const EXCEPTION_KEYS = new Set([
  'id',
  'ecosystem',
  'package',
  'name',
  'versions',
  'prereleases',
  'view',
  'reason',
  'requested_by',
  'approved_by',
  'expires',
  'ticket',
  'digests',
  'platforms',
]);
const CONDA_EXCEPTION_KEYS = new Set([...EXCEPTION_KEYS, 'channel', 'build', 'subdirs']);

/** The keys of an entry (a package of an allowlist, or of an exception) in this grammar: channel grammars have their own. */
const entryKeys = (g: PolicyGrammar | undefined) => (g?.channels ? CONDA_ENTRY_KEYS : ENTRY_KEYS);
const exceptionKeys = (g: PolicyGrammar | undefined) => (g?.channels ? CONDA_EXCEPTION_KEYS : EXCEPTION_KEYS);

interface Entry {
  name: string;
  range: string;
  prereleases?: boolean;
  reason?: string;
  digests?: string[];
  platforms?: string[];
  build?: string;
  subdirs?: string[];
  channel?: string;
}

/** Reads `digests:` / `platforms:` (OCI pins): a list of strings the grammar accepts. */
function readPins(r: FileReader, node: YAMLMap, grammar: PolicyGrammar, kind: 'digests' | 'platforms'): string[] | undefined | false {
  const n = field(node, kind);
  if (n === undefined) return undefined;
  if (!grammar.checkPin) return (void r.report(n, `"${kind}" is only supported for container images (oci)`), false);
  if (!isSeq(n) || n.items.length === 0) return (void r.report(n, `"${kind}" must be a non-empty list`), false);
  const out: string[] = [];
  for (const item of n.items as YamlNode[]) {
    const v = scalarString(item);
    const problem = v === undefined ? `each entry of "${kind}" must be a string` : grammar.checkPin(kind, v);
    if (problem) return (void r.report(item, problem), false);
    out.push(v!);
  }
  return out;
}

/** Parses one package entry: either "name<spec>" or { name, versions, prereleases, reason }. */
function readEntry(r: FileReader, node: YamlNode, grammar: PolicyGrammar, allowed: Set<string>): Entry | undefined {
  if (isScalar(node)) {
    const line = scalarString(node);
    if (line === undefined) return void r.report(node, 'an entry must be a requirement string or a mapping with name and versions');
    const split = grammar.splitRequirement(line);
    if ('error' in split) return void r.report(node, split.error);
    return {
      name: split.name,
      range: split.range,
      ...(split.build !== undefined ? { build: split.build } : {}),
      ...(split.channel !== undefined ? { channel: split.channel } : {}),
    };
  }
  if (!isMap(node)) return void r.report(node, 'an entry must be a requirement string or a mapping with name and versions');
  for (const pair of node.items) {
    const k = scalarString(pair.key);
    if (!k || !allowed.has(k)) r.report(pair.key as YamlNode, `unknown key "${k}"; expected one of ${[...allowed].join(', ')}`);
  }
  const name = scalarString(field(node, 'name'));
  if (!name) return void r.report(node, 'missing "name"');
  const versionsNode = field(node, 'versions');
  const range = versionsNode === undefined ? '' : scalarString(versionsNode);
  if (range === undefined) return void r.report(versionsNode, '"versions" must be a string such as ">=2.31,<3"');
  const pre = field(node, 'prereleases');
  let prereleases: boolean | undefined;
  if (pre !== undefined) {
    if (!isScalar(pre) || typeof pre.value !== 'boolean') return void r.report(pre, '"prereleases" must be true or false');
    prereleases = pre.value;
  }
  const reason = scalarString(field(node, 'reason'));
  const extra: Pick<Entry, 'build' | 'subdirs' | 'channel'> = {};
  const buildNode = field(node, 'build');
  if (buildNode !== undefined) {
    const b = scalarString(buildNode);
    if (b === undefined) return void r.report(buildNode, '"build" must be a build-string pattern such as "*_cpython" or "py311*"');
    extra.build = b;
  }
  const subdirsNode = field(node, 'subdirs');
  if (subdirsNode !== undefined) {
    const list = isSeq(subdirsNode) ? (subdirsNode.items as YamlNode[]).map(scalarString) : [scalarString(subdirsNode)];
    if (list.some((x) => x === undefined)) return void r.report(subdirsNode, '"subdirs" must be a list such as [linux-64, noarch]');
    extra.subdirs = list as string[];
  }
  const channelNode = field(node, 'channel');
  if (channelNode !== undefined) {
    const c = scalarString(channelNode);
    if (!c || !/^[a-z0-9][a-z0-9._-]*$/.test(c)) return void r.report(channelNode, '"channel" must be a channel name such as conda-forge');
    extra.channel = c;
  }
  const digests = readPins(r, node, grammar, 'digests');
  const platforms = readPins(r, node, grammar, 'platforms');
  if (digests === false || platforms === false) return undefined;
  // A name written as a match spec in a mapping ("numpy >=1" under name:) is refused: one place per part.
  return {
    name,
    range,
    ...(prereleases === undefined ? {} : { prereleases }),
    ...(reason ? { reason } : {}),
    ...(digests ? { digests } : {}),
    ...(platforms ? { platforms } : {}),
    ...extra,
  };
}

function toRule(
  r: FileReader,
  node: YamlNode,
  entry: Entry,
  grammar: PolicyGrammar,
  base: Omit<Rule, 'name' | 'matcher' | 'location'>,
): Rule | undefined {
  const nameProblem = grammar.checkName(entry.name);
  if (nameProblem) return void r.report(node, nameProblem);
  const matcher = grammar.parseRange(entry.range, entry.prereleases === undefined ? {} : { prereleases: entry.prereleases });
  if ('error' in matcher) return void r.report(node, matcher.error);
  const extra: Pick<Rule, 'build' | 'subdirs' | 'channel'> = {};
  if (entry.build !== undefined) {
    if (!grammar.parseBuild) return void r.report(node, `build-string patterns exist only for conda, not ${base.ecosystem}`);
    const build = grammar.parseBuild(entry.build);
    if ('error' in build) return void r.report(node, build.error);
    if (build.text !== '*') extra.build = build;
  }
  if (entry.subdirs !== undefined) {
    if (!grammar.checkSubdir) return void r.report(node, `subdirs exist only for conda, not ${base.ecosystem}`);
    for (const sd of entry.subdirs) {
      const problem = grammar.checkSubdir(sd);
      if (problem) return void r.report(node, problem);
    }
    extra.subdirs = [...entry.subdirs].sort();
  }
  const channel = entry.channel ?? base.channel;
  if (entry.channel !== undefined && base.channel !== undefined && entry.channel !== base.channel) {
    return void r.report(node, `"${entry.channel}::" names another channel than the "${base.channel}" section it is written in`);
  }
  if (channel !== undefined) extra.channel = channel;
  return {
    ...base,
    name: grammar.normalizeName(entry.name),
    matcher,
    location: { file: r.display, line: r.nodeLine(node) },
    ...(entry.reason ? { reason: entry.reason } : {}),
    ...(entry.digests ? { digests: entry.digests } : {}),
    ...(entry.platforms ? { platforms: entry.platforms } : {}),
    ...extra,
  };
}

/** Reads a list of package entries into rules (allowlist files). */
function readPackageList(
  r: FileReader,
  list: YamlNode,
  grammar: PolicyGrammar,
  eco: Ecosystem,
  out: LoadedPolicyFiles,
  channel?: string,
): void {
  if (!isSeq(list)) return void r.report(list, 'expected a list of packages');
  const seen = new Map<string, number>();
  for (const item of list.items as YamlNode[]) {
    const entry = readEntry(r, item, grammar, entryKeys(grammar));
    if (!entry) continue;
    const rule = toRule(r, item, entry, grammar, {
      kind: 'allowlist',
      ecosystem: eco,
      view: '*',
      bypassCooldown: false,
      ...(channel ? { channel } : {}),
    });
    if (!rule) continue;
    const key = `${rule.name}\0${rule.matcher.text}\0${rule.build?.text ?? ''}\0${rule.subdirs?.join(',') ?? ''}\0${rule.channel ?? ''}`;
    const dup = seen.get(key);
    if (dup !== undefined) r.report(item, `duplicate of the entry on line ${dup}`);
    seen.set(key, rule.location!.line);
    out.rules.push(rule);
  }
}

function readAllowlist(path: string, text: string, ctx: PolicyContext, out: LoadedPolicyFiles): void {
  const r = new FileReader(path);
  const eco = basename(path).replace(/\.ya?ml$/, '') as Ecosystem;
  const grammar = ctx.grammars[eco];
  if (!grammar) {
    r.report(undefined, `allowlist files are named after an ecosystem (${Object.keys(ctx.grammars).join(', ')}.yaml)`);
  } else {
    const root = r.parse(text);
    if (root !== null) {
      // Allowlists of a channel grammar (conda) may group entries per upstream channel
      // (channels: {conda-forge: [...]}); entries under packages: apply to every channel.
      const rootKeys = grammar.channels ? ['packages', 'channels'] : ['packages'];
      if (!isMap(root) || !rootKeys.some((k) => field(root, k) !== undefined)) {
        r.report(
          root,
          grammar.channels
            ? 'expected a mapping with a "channels" mapping (channel: [match specs]) and/or a "packages" list'
            : 'expected a mapping with a "packages" list',
        );
      } else {
        for (const pair of root.items) {
          const k = scalarString(pair.key);
          if (!k || !rootKeys.includes(k))
            r.report(pair.key as YamlNode, `unknown key "${k}"; expected ${rootKeys.map((x) => `"${x}"`).join(' or ')}`);
        }
        const packages = field(root, 'packages');
        if (packages !== undefined) readPackageList(r, packages, grammar, eco, out);
        const channels = field(root, 'channels');
        if (channels !== undefined) {
          if (!isMap(channels)) r.report(channels, '"channels" must map channel names to lists of match specs');
          else {
            for (const pair of channels.items) {
              const ch = scalarString(pair.key);
              if (!ch || !/^[a-z0-9][a-z0-9._-]*$/.test(ch)) {
                r.report(pair.key as YamlNode, `"${ch}" is not a channel name such as conda-forge`);
                continue;
              }
              readPackageList(r, pair.value as YamlNode, grammar, eco, out, ch);
            }
          }
        }
      }
    }
  }
  out.problems.push(...r.problems);
}

function readExceptions(path: string, text: string, ctx: PolicyContext, out: LoadedPolicyFiles): void {
  const r = new FileReader(path);
  const root = r.parse(text);
  const list = root && isMap(root) ? field(root, 'exceptions') : undefined;
  if (root !== null && (!isMap(root) || !isSeq(list))) {
    r.report(root, 'expected a mapping with an "exceptions" list');
  } else if (isSeq(list)) {
    const ids = new Set<string>();
    for (const item of list.items as YamlNode[]) {
      if (!isMap(item)) {
        r.report(item, 'each exception is a mapping with id, ecosystem, package, view, reason, expires');
        continue;
      }
      for (const pair of item.items) {
        const k = scalarString(pair.key);
        const keys = exceptionKeys(ctx.grammars[scalarString(field(item, 'ecosystem')) ?? '']);
        if (!k || !keys.has(k)) r.report(pair.key as YamlNode, `unknown key "${k}"; expected one of ${[...keys].join(', ')}`);
      }
      const id = scalarString(field(item, 'id'));
      if (!id) {
        r.report(item, 'missing "id"');
        continue;
      }
      if (ids.has(id)) r.report(item, `duplicate exception id "${id}"`);
      ids.add(id);
      const eco = scalarString(field(item, 'ecosystem')) as Ecosystem | undefined;
      const grammar = eco ? ctx.grammars[eco] : undefined;
      if (!eco || !grammar) {
        r.report(field(item, 'ecosystem') ?? item, `"ecosystem" must be one of ${Object.keys(ctx.grammars).join(', ')}`);
        continue;
      }
      const view = scalarString(field(item, 'view')) ?? '';
      if (view !== '*' && !ctx.views.has(view)) {
        r.report(
          field(item, 'view') ?? item,
          `"view" must be "*" (global) or a configured view (${[...ctx.views].join(', ')}); got "${view}"`,
        );
        continue;
      }
      const expiresText = scalarString(field(item, 'expires'));
      const expires = expiresText ? new Date(expiresText) : undefined;
      if (!expires || Number.isNaN(expires.getTime())) {
        r.report(field(item, 'expires') ?? item, 'every exception needs "expires" as a date (YYYY-MM-DD)');
        continue;
      }
      const requestedBy = scalarString(field(item, 'requested_by'));
      const approvedBy = scalarString(field(item, 'approved_by'));
      if (requestedBy && approvedBy && requestedBy === approvedBy)
        r.report(field(item, 'approved_by'), 'the approver must not be the requester');
      const reason = scalarString(field(item, 'reason'));
      if (!reason) r.report(item, 'every exception needs a "reason"');
      let entry: Entry | undefined;
      const pkg = field(item, 'package');
      if (pkg !== undefined) entry = readEntry(r, pkg, grammar, entryKeys(grammar));
      else entry = readEntry(r, item, grammar, exceptionKeys(grammar));
      if (!entry) continue;
      const channelOfItem = scalarString(field(item, 'channel'));
      if (pkg !== undefined && channelOfItem) {
        if (entry.channel && entry.channel !== channelOfItem) {
          r.report(item, `"channel: ${channelOfItem}" and "${entry.channel}::" disagree`);
          continue;
        }
        entry.channel = channelOfItem;
      }
      // A date-only expiry means "through the end of that day" (UTC).
      const end = /^\d{4}-\d{2}-\d{2}$/.test(expiresText!) ? new Date(expires.getTime() + 86_400_000 - 1) : expires;
      const rule = toRule(r, item, { ...entry, ...(reason ? { reason } : {}) }, grammar, {
        kind: 'exception',
        ecosystem: eco,
        view,
        id,
        expires: end,
        bypassCooldown: true,
      });
      if (rule) out.rules.push(rule);
    }
  }
  out.problems.push(...r.problems);
}

/** Files in allowlists/ that are not package allowlists (src/gate/policy.ts reads them). */
export const GATE_POLICY_FILES = new Set(['containers.yaml', 'containers.yml']);

/** The policy files of both folders as bytes; a file removed between listing and reading is left out (it is gone). */
interface PolicyFileBytes {
  path: string;
  file: string;
  bytes: Buffer;
  kind: 'allowlist' | 'exceptions';
}

async function readPolicyFiles(dirs: PolicyDirs): Promise<PolicyFileBytes[]> {
  const out: PolicyFileBytes[] = [];
  const folders = [
    [dirs.allowlistDir, 'allowlists', 'allowlist'],
    [dirs.exceptionsDir, 'exceptions', 'exceptions'],
  ] as const;
  for (const [dir, role, kind] of folders) {
    for (const path of await yamlFiles(dir)) {
      // The container gate's policy lives beside the package allowlists; the gate reads it.
      if (kind === 'allowlist' && GATE_POLICY_FILES.has(basename(path))) continue;
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      out.push({ path, file: `${role}/${basename(path)}`, bytes, kind });
    }
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function loadPolicyFiles(dirs: PolicyDirs, ctx: PolicyContext): Promise<LoadedPolicyFiles> {
  const out: LoadedPolicyFiles = { rules: [], problems: [], files: [], digests: [] };
  for (const f of await readPolicyFiles(dirs)) {
    out.files.push(f.path);
    out.digests.push({ file: f.file, sha256: sha256(f.bytes) });
    if (f.kind === 'allowlist') readAllowlist(f.path, f.bytes.toString('utf8'), ctx, out);
    else readExceptions(f.path, f.bytes.toString('utf8'), ctx, out);
  }
  return out;
}

/** The digests of the policy files as they are now (to tell whether they changed while a load read them). */
export async function digestPolicyFiles(dirs: PolicyDirs): Promise<PolicyFileDigest[]> {
  return (await readPolicyFiles(dirs)).map((f) => ({ file: f.file, sha256: sha256(f.bytes) }));
}

/** One fingerprint for a set of files: the sha256 of their listing in sha256sum's format ("<hex>  <file>\n"). */
export function filesFingerprint(digests: readonly PolicyFileDigest[]): string {
  return createHash('sha256')
    .update(digests.map((d) => `${d.sha256}  ${d.file}\n`).join(''))
    .digest('hex');
}
