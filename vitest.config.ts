// Vitest configuration: every test file in its own forked process, three at a time on a 2-core
// machine: most files spend much of their time waiting on child processes (pip, skopeo, nginx,
// PostgreSQL, a `safelist` CLI), and with two at a time the cores sat idle about half the run
// (bench/README.md, "Test suite"). `scripts/test --maxWorkers=N` overrides it. The global setup
// gives the run one temp root, a PostgreSQL server, database templates and the transpiled CLI.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
    reporters: ['default'],
  },
});
