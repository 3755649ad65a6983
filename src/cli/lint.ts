// `safelist allowlist lint`: every problem in allowlists/ and exceptions/ (the container gate's
// containers.yaml included), with file and line.
// `safelist allowlist check`: allowed packages whose dependencies have no allowed candidate,
// per view, from each registered ecosystem's check role (conda records' depends in the curated
// channel, PyPI files' Requires-Dist).
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { ecosystems, grammars } from '../ecosystems/index.js';
import type { InstallCheck } from '../ecosystems/types.js';
import { DEFAULT_VIEW } from '../policy/decide.js';
import { loadPolicyFiles } from '../policy/load.js';
import { openRuntime } from '../runtime.js';
import { join } from 'node:path';
import { loadContainerPolicy } from '../gate/policy.js';

export async function lintCommand(config: Config, argv: string[]): Promise<number> {
  if (argv[0] === 'check') return checkCommand(config, argv.slice(1));
  if (argv[0] !== 'lint') {
    process.stderr.write('usage: safelist allowlist lint | safelist allowlist check [--view V ...] [--json]\n');
    return 2;
  }
  const views = new Set([DEFAULT_VIEW, ...Object.keys(config.views)]);
  const loaded = await loadPolicyFiles(config.policy, { grammars, views });
  // A rule the configuration makes useless (an unconfigured registry or channel): each ecosystem says.
  for (const r of loaded.rules) {
    const message = r.location ? ecosystems.get(r.ecosystem)?.lintRule?.(r, config) : undefined;
    if (message) loaded.problems.push({ ...r.location!, message });
  }
  const containers = await loadContainerPolicy(join(config.policy.allowlistDir, config.gate.policyFile));
  if (!containers.ok) loaded.problems.push(...containers.problems);
  for (const p of loaded.problems) process.stdout.write(`${p.file}:${p.line}: ${p.message}\n`);
  process.stderr.write(`${loaded.files.length} file(s), ${loaded.rules.length} rule(s), ${loaded.problems.length} problem(s)\n`);
  return loaded.problems.length ? 1 : 0;
}

async function checkCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { view: { type: 'string', multiple: true }, json: { type: 'boolean' } } });
  // A mistyped view must not check nothing and pass: CI would stay green on a typo.
  const known = [DEFAULT_VIEW, ...Object.keys(config.views).filter((v) => v !== DEFAULT_VIEW)];
  const unknown = (values.view ?? []).filter((v) => !known.includes(v));
  if (unknown.length) {
    process.stderr.write(
      `safelist allowlist check: no view ${unknown.map((v) => `"${v}"`).join(', ')}; configured views: ${known.join(', ')}\n`,
    );
    return 2;
  }
  const rt = await openRuntime(config, { holder: 'safelist allowlist check' });
  try {
    const policy = rt.policies.policy;
    const views = values.view ?? policy.viewNames();
    const checks = new Map<string, InstallCheck>();
    for (const [id, eco] of rt.ecosystems) if (eco.check) checks.set(id, await eco.check(views, policy));
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(Object.fromEntries([...checks].map(([id, c]) => [id, c.problems.map((p) => p.detail)])), null, 2)}\n`,
      );
    } else {
      for (const c of checks.values()) for (const p of c.problems) process.stdout.write(`view ${p.view}: ${p.text}\n`);
    }
    process.stderr.write(`${[...checks].map(([id, c]) => `${id}: ${c.problems.length} problem(s)`).join('; ')}\n`);
    const vacuous = reportVacuous(checks, views, (id) => policy.namesInScope(id).size > 0);
    if ([...checks.values()].some((c) => c.problems.length)) return 1;
    return vacuous ? 1 : 0;
  } finally {
    await rt.close();
  }
}

/**
 * Warns, per ecosystem with allowlist entries, about views in which the catalog offers nothing to
 * check; returns true when nothing at all was checked. A check that checked nothing is not a pass.
 */
function reportVacuous(checks: ReadonlyMap<string, InstallCheck>, views: string[], inScope: (id: string) => boolean): boolean {
  let considered = false;
  let checked = false;
  for (const [id, c] of checks) {
    // An ecosystem the allowlists do not mention has nothing to check: not worth a warning.
    if (!inScope(id)) continue;
    considered = true;
    const empty = views.filter((v) => !c.offered.includes(v));
    checked ||= empty.length < views.length;
    if (!empty.length) continue;
    const why = c.hasRecords
      ? `no mirrored package is allowed in view(s) ${empty.join(', ')}`
      : 'the catalog has no records (nothing synced or imported yet)';
    process.stderr.write(
      `warning: ${id}: ${why}: nothing was checked there, so the check is vacuous; run \`safelist sync\` (or import) first\n`,
    );
  }
  if (considered && !checked) process.stderr.write('allowlist check: nothing was checked; this is not a pass\n');
  return considered && !checked;
}
