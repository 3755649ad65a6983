#!/usr/bin/env -S node --max-semi-space-size=4 --liftoff-only
// The `safelist` command: one file per command under cli/, all built on the same runtime as
// the server. Exit codes: 0 success, 1 the command ran and found problems, 2 usage or error.
// The Node.js flags above are memory settings (bench/README.md, "Where the memory goes"): a
// 4 MiB young generation instead of V8's grown 64 MiB semi-spaces, and embedded PGlite's
// WebAssembly left to the baseline compiler (its optimising tier peaks at ~500 MiB while it
// compiles Postgres's hot functions). They must never change behaviour, only memory and speed;
// scripts/start and the Dockerfile pass the same ones, and V8 takes them only at process start.
// tick-shape.js comes first: it must run before anything that could make a full GC (see there).
import '../tick-shape.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { PolicyError } from '../policy/store.js';
import { configSections } from '../ecosystems/index.js';
import { SafelistError } from '../errors.js';
import { TRANSIENT, UpstreamError } from '../upstream/types.js';
import { commands } from './commands.js';

const USAGE = `usage: safelist [--config FILE] <command> [options]

commands:
  serve                         run the server (read paths, API, scheduled sync)
  import pypi DIR               put wheels and sdists from DIR into storage
  import conda DIR [--channel NAME]
                                put .conda and .tar.bz2 packages from DIR into a channel
  sync [--ecosystem pypi|conda|oci|all] [--dry-run] [--project NAME ...] [--channel NAME ...]
                                seed and update private storage from the upstreams
  acr-import [--dry-run] [--all] import the allowed images into oci.acrTarget (ARM importImage)
  advisories import             import advisories.sources now (MAL- records block at once)
  incident NAME==VERSION [--ecosystem pypi|conda|npm]   who downloaded it, which gated images contain it
  allowlist lint                check allowlists/ and exceptions/, with file and line
  allowlist check [--view V]    allowed conda packages whose dependencies have no allowed candidate
  why NAME [--view V] [--ecosystem pypi|conda|oci|npm]
                                explain what blocks or allows a package
  exceptions request|list|show|approve|reject|revoke|export ...
                                the exception workflow through the API (SAFELIST_URL, SAFELIST_TOKEN)
  publish [--path DIR] [--view V ...]
                                render each view's simple tree as static files (publish.target)
  workspace config VIEW [--url BASE] [--with-token]
                                pip.conf, .condarc, container and Azure ML settings for a workspace
  gate check IMAGE [--wait 10m]  a pipeline's container gate verdict: exit 0 pass, 1 fail, 2 none
                                (SAFELIST_URL, SAFELIST_TOKEN)
  audit verify | anchor | export [--since T] [--action A] [--subject S]
                                check the hash chain, anchor its head, export JSON Lines
`;

/** The Node.js major Safelist needs (package.json engines; scripts/use-node installs it). */
const NODE_MAJOR = 24;

async function main(argv: string[]): Promise<number> {
  // An older Node.js fails later with an obscure missing export (zstd in node:zlib): say so first.
  if (Number(process.versions.node.split('.')[0]) < NODE_MAJOR) {
    process.stderr.write(
      `safelist: needs Node.js ${NODE_MAJOR} or newer, this is ${process.version}; run it through scripts/start (it installs Node.js ${NODE_MAJOR} into .tools/)\n`,
    );
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [name, ...rest] = positionals;
  if (values.help || !name) {
    process.stdout.write(USAGE);
    return name || values.help ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`safelist: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  const loaded = loadConfig({ sections: configSections, ...(typeof values.config === 'string' ? { file: values.config } : {}) });
  const args = argv.slice(argv.indexOf(name) + 1);
  void rest;
  return command(loaded.config, args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof PolicyError) process.stderr.write(`safelist: ${err.message}\n`);
    else if (err instanceof SafelistError) process.stderr.write(`safelist: ${err.message}\n`);
    else if (err instanceof UpstreamError)
      process.stderr.write(`safelist: ${err.message}${TRANSIENT.has(err.code) ? ' (the upstream may recover: try again later)' : ''}\n`);
    else if (
      (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    )
      process.stderr.write(`safelist: ${(err as Error).message}\n\n${USAGE}`);
    else process.stderr.write(`safelist: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
