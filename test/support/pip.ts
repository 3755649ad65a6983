// Runs the machine's real pip against an index, isolated from every local pip configuration:
// no PIP_* variables, PIP_CONFIG_FILE=/dev/null, --isolated, no cache, and only the given
// --index-url (no find-links, no extra index), so whatever it installs came from that index.
import { execFileSync, spawn } from 'node:child_process';

export interface PipResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, as a user would read them. */
  output: string;
}

/** The interpreter as named (SAFELIST_TEST_PYTHON, else python3 on PATH). */
const PYTHON_NAMED = process.env.SAFELIST_TEST_PYTHON ?? 'python3';

/**
 * The interpreter's own executable, asked of it once. A version manager's shim in front of it
 * (pyenv) runs `pyenv rehash` after every `-m pip install`, and two such runs at once (test
 * files in parallel) make it fail with exit 1 after pip itself succeeded; the real executable
 * is the same Python, without the wrapper.
 */
export const PYTHON = realExecutable(PYTHON_NAMED);

function realExecutable(python: string): string {
  try {
    const path = execFileSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 30_000 }).trim();
    return path || python;
  } catch {
    // No such interpreter: the tests that need it fail with spawn's own error, naming it.
    return python;
  }
}

export function isolatedPipEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('PIP_') || k === 'PYTHONPATH' || k === 'PYTHONUSERBASE') continue;
    env[k] = v;
  }
  env.PIP_CONFIG_FILE = '/dev/null';
  env.PIP_DISABLE_PIP_VERSION_CHECK = '1';
  env.PYTHONDONTWRITEBYTECODE = '1';
  return env;
}

export function pipArgs(opts: { indexUrl: string; requirements: string[]; target: string; extraArgs?: string[] }): string[] {
  return [
    '-m',
    'pip',
    'install',
    '--isolated',
    '--no-cache-dir',
    '--no-input',
    '--disable-pip-version-check',
    '--index-url',
    opts.indexUrl,
    '--target',
    opts.target,
    '--only-binary',
    ':all:',
    ...(opts.extraArgs ?? []),
    ...opts.requirements,
  ];
}

export async function pipInstall(opts: {
  indexUrl: string;
  requirements: string[];
  target: string;
  extraArgs?: string[];
}): Promise<PipResult> {
  return runPython(pipArgs(opts));
}

export async function runPython(args: string[]): Promise<PipResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { env: isolatedPipEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      output += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      output += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr, output }));
  });
}
