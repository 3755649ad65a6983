// Loads the configuration: one YAML file (optional) plus environment overrides, validated
// once against the schema. The only module that reads process.env. A wrong value stops the
// process with the key's name, what is expected and where the value came from.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Environment variables with a well-known meaning outside Safelist. */
const WELL_KNOWN: Record<string, string[]> = {
  DATABASE_URL: ['database', 'url'],
  AZURE_STORAGE_CONNECTION_STRING: ['storage', 'azure', 'connectionString'],
  PORT: ['server', 'port'],
};

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

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
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
      throw new ConfigError(`config: ${path} is not valid YAML: ${(err as Error).message}`);
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
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const names = issue.keys.map((k) => (key === '(top level)' ? k : `${key}.${k}`));
        const from =
          [...sources].find(([k]) => names.some((n) => k === n || k.startsWith(`${n}.`)))?.[1] ?? (file ? `file ${file}` : 'defaults');
        return `  ${names.join(', ')}: not a setting Safelist knows (from ${from})`;
      }
      const from = sources.get(key) ?? (file ? `file ${file}` : 'defaults');
      return `  ${key}: ${issue.message} (from ${from})`;
    });
    throw new ConfigError(`config: invalid configuration\n${lines.join('\n')}`);
  }
  return { config: result.data, sources, ...(file ? { file } : {}) };
}
