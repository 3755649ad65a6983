// Runs the `safelist` command as a user does, in a child process, with the Node.js flags its
// first line names, from this run's transpile of src/ (test/support/cli-build.ts, made by the
// global setup) so a test never runs a stale build; from source through tsx when a file runs
// without that setup.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { cliNodeFlags } from '../../bench/node-flags.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Node.js arguments that run `safelist ...args` (pass them to spawn(process.execPath, …)). */
export function cliArgv(...args: string[]): string[] {
  const entry = process.env.TEST_CLI_ENTRY;
  const flags = cliNodeFlags(join(ROOT, 'src/cli/main.ts'));
  return entry ? [...flags, entry, ...args] : [...flags, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args];
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, cliArgv(...args), {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

export interface CliProcess {
  child: ChildProcess;
  /** Everything written so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the command and returns at once (for `serve`: signals, exit codes, what it prints). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, cliArgv(...args), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('close', (code, signal) => resolveExit({ code, signal })),
  );
  return { child, output: () => ({ stdout, stderr }), exited };
}
