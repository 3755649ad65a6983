// Loads the configuration: one YAML file (optional) plus environment overrides, validated
// once against the schema: the core's keys plus the ecosystems' sections the caller passes (the
// registry's configSections; config/ knows no ecosystem). The only module that reads process.env.
// A wrong value stops the process with the key's name, what is expected and where the value came from.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { composeConfigSchema, type Config, type ConfigSection } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Environment variables with a well-known meaning outside Safelist. */
const WELL_KNOWN: Record<string, string[]> = {
  DATABASE_URL: ['database', 'url'],
  AZURE_STORAGE_CONNECTION_STRING: ['storage', 'azure', 'connectionString'],
  PORT: ['server', 'port'],
};

/**
 * The standard proxy variables (lower case first, as curl and undici read them): network.proxy's
 * defaults, taken only when neither the file, a SAFELIST_ variable nor the command line names a
 * proxy (the proxy is then configured in one place).
 */
const PROXY_DEFAULTS: Array<[key: 'url' | 'httpUrl' | 'noProxy', variables: string[]]> = [
  ['url', ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY']],
  ['httpUrl', ['http_proxy', 'HTTP_PROXY']],
  ['noProxy', ['no_proxy', 'NO_PROXY']],
];

const PREFIX = 'SAFELIST_';
/** SAFELIST_* variables that are not settings: the config file, and the API client's server and token. */
const NOT_SETTINGS = new Set(['SAFELIST_CONFIG', 'SAFELIST_URL', 'SAFELIST_TOKEN']);

function camel(part: string): string {
  return part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadOptions {
  /** The ecosystems' sections (ecosystems/index.ts configSections): without one, its key is refused as unknown. */
  sections: readonly ConfigSection[];
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (used by the CLI and tests). */
  overrides?: Array<[string[], unknown]>;
}

export interface LoadedConfig {
  config: Config;
  /** Where each overridden key came from, for error messages and `safelist config`. */
  sources: Map<string, string>;
  file?: string;
}

export function loadConfig(opts: LoadOptions): LoadedConfig {
  const schema = composeConfigSchema(opts.sections);
  const env = opts.env ?? process.env;
  const sources = new Map<string, string>();
  const file = opts.file ?? env.SAFELIST_CONFIG ?? (existsSync('safelist.yaml') ? 'safelist.yaml' : undefined);
  let raw: Record<string, unknown> = {};
  if (file) {
    const path = resolve(file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`config: cannot read ${path}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config: ${path} is not valid YAML: ${yamlReason(err)}`);
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config: ${path} must hold a mapping at the top level`);
    raw = doc as Record<string, unknown>;
  }
  for (const [name, path] of Object.entries(WELL_KNOWN)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      setPath(raw, path, v);
      sources.set(path.join('.'), `environment ${name}`);
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || NOT_SETTINGS.has(name) || value === undefined) continue;
    const path = name.slice(PREFIX.length).split('__').map(camel);
    let parsed: unknown = value;
    // Structured values (lists, maps) can be given as JSON.
    if (/^[[{]/.test(value.trim())) {
      try {
        parsed = JSON.parse(value);
      } catch {
        throw new ConfigError(`config: ${name} looks like JSON but does not parse`);
      }
    }
    setPath(raw, path, parsed);
    sources.set(path.join('.'), `environment ${name}`);
  }
  for (const [path, value] of opts.overrides ?? []) {
    setPath(raw, path, value);
    sources.set(path.join('.'), 'command line');
  }
  proxyDefaults(raw, env, sources);
  const result = schema.safeParse(raw);
  if (!result.success) {
    const from = (key: string) => sourceOf(sources, key) ?? (file ? `file ${file}` : 'defaults');
    const lines = result.error.issues.flatMap((issue) => {
      const key = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        // One line per key, each with its own source: two bad variables are two mistakes.
        return issue.keys.map((k) => {
          const name = key === '(top level)' ? k : `${key}.${k}`;
          const source = from(name);
          return `  ${name}: not a setting Safelist knows (from ${source})${didYouMean(schema, issue.path, k, source)}`;
        });
      }
      return [`  ${key}: ${issue.message} (from ${from(key)})`];
    });
    throw new ConfigError(`config: invalid configuration\n${lines.join('\n')}`);
  }
  return { config: result.data, sources, ...(file ? { file } : {}) };
}

/** Fills network.proxy from HTTPS_PROXY, HTTP_PROXY and NO_PROXY where the configuration leaves it unset. */
function proxyDefaults(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, sources: Map<string, string>): void {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  // A section that is not a mapping is left for the schema to refuse, not papered over.
  if (raw.network !== undefined && !isMap(raw.network)) return;
  const proxy = raw.network?.proxy;
  if (proxy !== undefined && !isMap(proxy)) return;
  const given = proxy ?? {};
  const proxyNamed = given.url !== undefined || given.httpUrl !== undefined;
  for (const [key, variables] of PROXY_DEFAULTS) {
    if (given[key] !== undefined || (proxyNamed && key !== 'noProxy')) continue;
    const name = variables.find((v) => env[v] !== undefined && env[v].trim() !== '');
    if (!name) continue;
    setPath(raw, ['network', 'proxy', key], env[name]!.trim());
    sources.set(`network.proxy.${key}`, `environment ${name}`);
  }
}

/** The source that set a key: the key itself, the nearest parent set as one JSON value, or a child under it. */
function sourceOf(sources: Map<string, string>, key: string): string | undefined {
  let parent: [string, string] | undefined;
  let child: string | undefined;
  for (const [k, v] of sources) {
    if (k === key) return v;
    if (key.startsWith(`${k}.`) && (!parent || k.length > parent[0].length)) parent = [k, v];
    if (k.startsWith(`${key}.`)) child ??= v;
  }
  return parent?.[1] ?? child;
}

/** The YAML parser's position and reason, never its code frame: the offending line may hold a secret. */
function yamlReason(err: unknown): string {
  if (!(err instanceof YAMLParseError)) return 'the parser failed';
  const at = err.linePos?.[0];
  const where = at ? `line ${at.line}, column ${at.col}` : `offset ${err.pos[0]}`;
  return `${where}: ${YAML_REASONS[err.code] ?? 'syntax error'} (${err.code})`;
}

// Fixed wording per parser error code: yaml's own messages may quote parts of the line (an escape, a tag).
const YAML_REASONS: Partial<Record<YAMLParseError['code'], string>> = {
  ALIAS_PROPS: 'an alias cannot have an anchor or a tag',
  BAD_ALIAS: 'an alias that names no anchor',
  BAD_DIRECTIVE: 'a malformed directive',
  BAD_DQ_ESCAPE: 'an invalid escape sequence in a double-quoted string',
  BAD_INDENT: 'wrong indentation',
  BAD_PROP_ORDER: 'anchors and tags must come after the indicator',
  BAD_SCALAR_START: 'a plain value cannot start with this character (quote the value)',
  BLOCK_AS_IMPLICIT_KEY: 'a block collection cannot be a key',
  BLOCK_IN_FLOW: 'a block collection inside a flow collection ({ } or [ ])',
  DUPLICATE_KEY: 'a key appears twice in the same mapping',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  MISSING_CHAR: 'a missing character (a closing quote or bracket, a comma, a space after ":")',
  MULTILINE_IMPLICIT_KEY: 'a key must be on a single line',
  MULTIPLE_ANCHORS: 'a node with more than one anchor',
  MULTIPLE_DOCS: 'more than one YAML document in the file',
  MULTIPLE_TAGS: 'a node with more than one tag',
  NON_STRING_KEY: 'a key that is not a string',
  RESOURCE_EXHAUSTION: 'too many aliases',
  TAB_AS_INDENT: 'a tab used for indentation (use spaces)',
  TAG_RESOLVE_FAILED: 'an unknown tag',
  UNEXPECTED_TOKEN: 'an unexpected character or token',
  BAD_COLLECTION_TYPE: 'a tag that does not fit the collection',
};

/** The object schema at a config path (through defaults, optionals, records and arrays), if any. */
function shapeAt(schema: z.ZodType, path: PropertyKey[]): Record<string, z.ZodType> | undefined {
  type Def = {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    valueType?: z.ZodType;
    element?: z.ZodType;
  };
  let node: z.ZodType | undefined = schema;
  let i = 0;
  while (node) {
    const def: Def = (node as unknown as { _zod: { def: Def } })._zod.def;
    // Wrappers first: they do not consume a path segment.
    if (def.innerType) node = def.innerType;
    else if (def.type === 'pipe') node = def.in;
    else if (i === path.length) return def.type === 'object' ? def.shape : undefined;
    else if (def.type === 'object') node = def.shape?.[String(path[i++])];
    else if (def.type === 'record') {
      node = def.valueType;
      i++;
    } else if (def.type === 'array') {
      node = def.element;
      i++;
    } else return undefined;
  }
  return undefined;
}

/** " (did you mean …?)" naming the closest known key, in the form the user wrote it (variable or key). */
function didYouMean(schema: z.ZodType, parent: PropertyKey[], key: string, source: string): string {
  const known = Object.keys(shapeAt(schema, parent) ?? {});
  const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const best =
    known.find((k) => squash(k) === squash(key)) ??
    known
      .map((k) => ({ k, d: editDistance(squash(k), squash(key)) }))
      .filter((c) => c.d <= Math.max(1, Math.floor(c.k.length / 4)))
      .sort((a, b) => a.d - b.d)[0]?.k;
  if (!best) return known.length ? `; known keys here: ${known.join(', ')}` : '';
  const variable = variableFor(source, [...parent.map(String), key]);
  if (variable) {
    // The same variable with the one wrong segment replaced, in the variables' snake case.
    variable[parent.length] = best.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
    return `; did you mean ${PREFIX}${variable.join('__')}?`;
  }
  return `; did you mean ${[...parent.map(String), best].join('.')}?`;
}

/** The segments of the SAFELIST_ variable behind a source, when it names this key or a key under it (not a parent given as JSON). */
function variableFor(source: string, path: string[]): string[] | undefined {
  const name = /^environment (SAFELIST_\S+)$/.exec(source)?.[1];
  if (!name) return undefined;
  const segments = name.slice(PREFIX.length).split('__');
  return segments.length >= path.length && path.every((p, i) => camel(segments[i]!) === p) ? segments : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
