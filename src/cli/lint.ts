// `safelist allowlist lint`: every problem in allowlists/ and exceptions/ (the container gate's
// containers.yaml included), with file and line.
// `safelist allowlist check`: allowed packages whose dependencies have no allowed candidate,
// per view: conda records' depends in the curated channel, PyPI files' Requires-Dist.
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { grammars } from '../ecosystems/grammars.js';
import { DEFAULT_VIEW } from '../policy/decide.js';
import { loadPolicyFiles } from '../policy/load.js';
import { checkCondaInstallability } from '../ecosystems/conda/installability.js';
import { checkPypiInstallability } from '../ecosystems/pypi/installability.js';
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
  // OCI names start with a configured upstream's short name; anything else could never sync.
  const registries = new Set(config.oci.upstreams.map((u) => u.name));
  for (const r of loaded.rules) {
    const registry = r.ecosystem === 'oci' ? r.name.split('/')[0]! : undefined;
    if (registry !== undefined && !registries.has(registry) && r.location) {
      loaded.problems.push({
        ...r.location,
        message: `"${registry}" is not a configured oci upstream (oci.upstreams: ${[...registries].join(', ') || 'none'})`,
      });
    }
  }
  // A conda rule for a channel Safelist does not mirror allows nothing: almost always a typo.
  const channels = new Set(config.conda.channels.flatMap((c) => [c.name, ...c.alias]));
  for (const r of loaded.rules) {
    if (r.ecosystem === 'conda' && r.channel !== undefined && !channels.has(r.channel) && r.location) {
      loaded.problems.push({
        ...r.location,
        message: `channel "${r.channel}" is not configured (conda.channels: ${[...channels].join(', ') || 'none'}); this entry allows nothing`,
      });
    }
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
    const views = values.view ?? rt.policies.policy.viewNames();
    const problems = checkCondaInstallability(rt.conda, rt.policies.policy, views);
    const pypi = await checkPypiInstallability(rt.pypi, rt.pypiCatalog, rt.store, rt.policies.policy, views);
    if (values.json) process.stdout.write(`${JSON.stringify({ conda: problems, pypi }, null, 2)}\n`);
    else {
      for (const p of problems) {
        process.stdout.write(`view ${p.view}: ${p.channel}/${p.platform}: ${p.filename} depends on "${p.dependency}": ${p.reason}\n`);
      }
      for (const p of pypi)
        process.stdout.write(`view ${p.view}: pypi: ${p.project} ${p.version} requires "${p.requirement}": ${p.reason}\n`);
    }
    process.stderr.write(`conda: ${problems.length} dependency problem(s); pypi: ${pypi.length} requirement problem(s)\n`);
    const vacuous = reportVacuous(rt, views);
    if (problems.length + pypi.length) return 1;
    return vacuous ? 1 : 0;
  } finally {
    await rt.close();
  }
}

type CheckRuntime = Awaited<ReturnType<typeof openRuntime>>;

/**
 * Warns, per ecosystem with allowlist entries, about views in which the catalog offers nothing to
 * check; returns true when nothing at all was checked. A check that checked nothing is not a pass.
 */
function reportVacuous(rt: CheckRuntime, views: string[]): boolean {
  const policy = rt.policies.policy;
  const offered = {
    pypi: (view: string) =>
      [...rt.pypiCatalog.projectNames()].some((name) =>
        rt.pypiCatalog.project(name)!.files.some((f) => f.stored && rt.pypi.decideFile(f, view).allowed),
      ),
    conda: (view: string) =>
      rt.conda.channels.some((c) => rt.conda.subdirsOf(c).some((s) => rt.conda.allowedPackages(view, c.name, s).length > 0)),
  };
  const records = { pypi: rt.pypiCatalog.size > 0, conda: [...rt.condaCatalog.all()].some((s) => s.packages.size > 0) };
  let considered = false;
  let checked = false;
  for (const ecosystem of ['pypi', 'conda'] as const) {
    // An ecosystem the allowlists do not mention has nothing to check: not worth a warning.
    if (policy.namesInScope(ecosystem).size === 0) continue;
    considered = true;
    const empty = views.filter((v) => !offered[ecosystem](v));
    checked ||= empty.length < views.length;
    if (!empty.length) continue;
    const why = records[ecosystem]
      ? `no mirrored package is allowed in view(s) ${empty.join(', ')}`
      : 'the catalog has no records (nothing synced or imported yet)';
    process.stderr.write(
      `warning: ${ecosystem}: ${why}: nothing was checked there, so the check is vacuous; run \`safelist sync\` (or import) first\n`,
    );
  }
  if (considered && !checked) process.stderr.write('allowlist check: nothing was checked; this is not a pass\n');
  return considered && !checked;
}
