// The `safelist` command as the tests run it: src/ transpiled once per test run (esbuild, the
// same transform tsx applies, one file in, one file out, no bundling) into a folder under
// node_modules/.cache, so every CLI child process starts as fast as a built release (~0.5 s)
// instead of paying tsx's loader in each one (~1.5 s more on a 2-core machine), yet never runs a
// stale build: the global setup transpiles the working tree's src/ at the start of every run.
// The folder sits inside the repository's node_modules so the transpiled files resolve the same
// packages src/ does; it is removed at teardown, and one left by a killed run at the next start.
// It must never write anywhere but its own folder.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PREFIX = 'safelist-test-src-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every .ts file under dir, relative paths. */
function sources(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...sources(dir, rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Transpiles root/src into a fresh folder of this process; returns the CLI entry and the folder. */
export async function transpileCli(root: string): Promise<{ entry: string; dir: string }> {
  const cache = join(root, 'node_modules/.cache');
  if (existsSync(cache)) {
    for (const name of readdirSync(cache)) {
      const pid = new RegExp(`^${PREFIX}(\\d+)$`).exec(name)?.[1];
      if (pid && !alive(Number(pid))) rmSync(join(cache, name), { recursive: true, force: true });
    }
  }
  const dir = join(cache, `${PREFIX}${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const { build } = await import('esbuild');
  const src = join(root, 'src');
  await build({
    entryPoints: sources(src).map((f) => join(src, f)),
    outbase: src,
    outdir: join(dir, 'src'),
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    logLevel: 'error',
  });
  // Marks the folder as ES modules (the repository's package.json says so for src/; this one is not under it).
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return { entry: join(dir, 'src/cli/main.js'), dir };
}
