// ESLint for the whole repository (`npm run lint`, run by scripts/test before the tests): the
// import-boundary rules that keep src/'s layers pointing down (STYLE.md habit 3), and a light
// typescript-eslint rule set. It must never be loosened to let a higher layer be imported from a
// lower one: a real exception is an eslint-disable comment on the import naming issue 12.
import { existsSync, readdirSync } from 'node:fs';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

// src/'s layers, lowest first. A module may import its own folder, any lower layer, and the
// siblings named in SIBLINGS below; nothing else. Same-layer imports are allowed only in the one
// direction listed, so the folder graph stays acyclic (no folder cycle can return).
const LAYERS = [
  // The base, in three steps: error values and process lifecycle (and tick-shape, which the
  // entry points import first); configuration and input validation (which throw those errors);
  // the database and blob storage (which read that configuration).
  ['errors', 'shutdown', 'tick-shape'],
  ['config', 'validate'],
  ['state', 'storage'],
  // Domain parts that know no ecosystem: upstream clients, the replicated catalog, policy, identity,
  // and the HTTP helpers every ecosystem's routes share (serve: blob responses, reason phrases).
  ['upstream', 'catalog', 'policy', 'auth', 'serve'],
  // Each ecosystem's own code.
  ['ecosystems'],
  // Services built on the ecosystems.
  ['notify', 'audit', 'exceptions', 'gate', 'onboarding', 'publish'],
  // The composition of those services into one runtime (jobs, http and the CLI take it as given).
  ['runtime'],
  ['jobs'],
  ['http'],
  // The web console: pages over the same services as the API (it reuses http/'s error mapping).
  ['console'],
  // Entry points.
  ['cli', 'server', 'main'],
];

// Same-layer imports, as [importer, imported]: the only direction each may go.
const SIBLINGS = [
  ['policy', 'catalog'], // policy reloads on catalog change notifications
  ['exceptions', 'audit'],
  ['exceptions', 'notify'],
  ['gate', 'audit'],
  ['gate', 'notify'],
  ['cli', 'server'], // `safelist serve` starts the server
  ['main', 'cli'],
];

// Folders are elements; the single files of src/'s top level are classified by file descriptors
// (categories), so each policy below names both kinds.
const FILES = {
  errors: 'src/errors.ts',
  validate: 'src/validate.ts',
  shutdown: 'src/shutdown.ts',
  'tick-shape': 'src/tick-shape.ts',
  runtime: 'src/runtime.ts',
  server: 'src/server.ts',
  main: 'src/main.ts',
};
const isFile = (name) => name in FILES;
const elements = LAYERS.flat()
  .filter((type) => !isFile(type))
  .map((type) => ({ type, pattern: `src/${type}`, partialMatch: false }));
const files = Object.entries(FILES).map(([category, pattern]) => ({ category, pattern }));

/** The selector of one part of src/: its folder element or its top-level file. */
const part = (name) => (isFile(name) ? { file: { categories: name } } : { element: { type: name } });

const policies = LAYERS.flatMap((layer, i) => {
  const below = LAYERS.slice(0, i).flat();
  return layer.flatMap((name) => {
    const allowed = [name, ...below, ...SIBLINGS.filter(([a]) => a === name).map(([, b]) => b)];
    const folders = allowed.filter((n) => !isFile(n));
    const singles = allowed.filter(isFile);
    return [
      { from: part(name), allow: { to: { element: { types: { anyOf: folders } } } } },
      ...(singles.length ? [{ from: part(name), allow: { to: { file: { categories: { anyOf: singles } } } } }] : []),
    ];
  });
});

// The ecosystems (each folder of src/ecosystems/ with a module.ts). Their ids may appear as
// string literals only inside their own folder: anywhere else, a branch on an ecosystem's name
// is a missing member of the EcosystemModule interface (STYLE.md habit 1). The registry
// (src/ecosystems/index.ts) lists the modules by import, not by name.
const ECOSYSTEM_IDS = readdirSync('src/ecosystems', { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`src/ecosystems/${d.name}/module.ts`))
  .map((d) => d.name);
const idPattern = `/^(${ECOSYSTEM_IDS.join('|')})$/`;
const ECOSYSTEM_NAME_MESSAGE =
  'an ecosystem is named only inside its own folder (src/ecosystems/<id>/): loop over the registry (src/ecosystems/index.ts) and ask the module instead';
// An ecosystem's configuration section (config.npm) and its tables (npm_versions) are its module's
// too: an id as a property name, an object or interface key, or a table in SQL text is reported
// outside its folder (a table: a name after FROM, JOIN, INTO, UPDATE, TABLE, ON or EXISTS), so core
// code can neither read a section nor query a table of one ecosystem.
const tablePattern = `/\\b(from|join|into|update|table|on|exists)\\s+(${ECOSYSTEM_IDS.join('|')})_[a-z]/i`;
const ECOSYSTEM_OWNED_MESSAGE =
  "an ecosystem's configuration section and tables belong to its module (src/ecosystems/<id>/): read the section through its ConfigSection there, query its tables there, and give the core a module role instead";

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tools/**', '.tmp/**', 'data/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // A variable read by a closure before its one assignment (a timer, a worker wired later) must stay `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Unused names are an error, except the ones named _… on purpose and an object rest's siblings.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests and benchmarks reach into internals and fake odd inputs on purpose: `any` is their
    // tool there, and rethrowing a setup failure as a new message (a port that never opened) is
    // how they report it. Both rules stay on for src/.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': elements,
      'boundaries/files': files,
      'boundaries/include': ['src/**/*.ts'],
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      'boundaries/dependencies': ['error', { default: 'disallow', policies }],
      // Every file of src/ belongs to a layer: a new top-level folder must be placed in LAYERS.
      'boundaries/no-unknown-files': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/ecosystems/*/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: `Literal[value=${idPattern}]`, message: ECOSYSTEM_NAME_MESSAGE },
        { selector: `TemplateElement[value.raw=${idPattern}]`, message: ECOSYSTEM_NAME_MESSAGE },
        { selector: `MemberExpression[computed=false] > Identifier.property[name=${idPattern}]`, message: ECOSYSTEM_OWNED_MESSAGE },
        { selector: `Property[computed=false] > Identifier.key[name=${idPattern}]`, message: ECOSYSTEM_OWNED_MESSAGE },
        { selector: `TSPropertySignature > Identifier.key[name=${idPattern}]`, message: ECOSYSTEM_OWNED_MESSAGE },
        { selector: `Literal[value=${tablePattern}]`, message: ECOSYSTEM_OWNED_MESSAGE },
        { selector: `TemplateElement[value.raw=${tablePattern}]`, message: ECOSYSTEM_OWNED_MESSAGE },
      ],
    },
  },
);
