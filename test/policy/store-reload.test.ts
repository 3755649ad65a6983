// The policy store's reload contract: reloads apply in the order they were asked (an older read
// never overwrites a newer one); each outcome is told with the digests of the very bytes that
// were validated; an invalid file set is rejected with file:line and the policy in force stays;
// editors' hidden files in the policy folders are never read as policy.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/errors.js';
import { filesFingerprint } from '../../src/policy/load.js';
import { PolicyStore, type ReloadOutcome } from '../../src/policy/store.js';
import { configSchema, grammars } from '../../src/ecosystems/index.js';
import { until } from '../support/wait.js';
import { CatalogReloads } from '../../src/catalog/reload.js';

const dirs: string[] = [];

async function world() {
  const dir = await mkdtemp(join(tmpdir(), 'safelist-policy-store-'));
  dirs.push(dir);
  await mkdir(join(dir, 'allowlists'));
  await mkdir(join(dir, 'exceptions'));
  const config = configSchema.parse({ policy: { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'exceptions') } });
  const store = PolicyStore.empty(config, grammars);
  const outcomes: ReloadOutcome[] = [];
  store.onReload((o) => outcomes.push(o));
  const allowlist = (text: string) => writeFile(join(dir, 'allowlists', 'pypi.yaml'), text);
  const names = () => store.policy.rules.map((r) => r.name);
  return { dir, store, outcomes, allowlist, names };
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('policy store reloads', () => {
  it('applies reloads in the order they were asked: a slow older read never overwrites a newer one', async () => {
    const { store, allowlist, names } = await world();
    // The first reload is held in its rule source (the API exceptions' query), after it read the files.
    let release: (() => void) | undefined;
    let hold = true;
    store.addRuleSource(async () => {
      if (hold) {
        hold = false;
        await new Promise<void>((r) => (release = r));
      }
      return [];
    });
    await allowlist('packages:\n  - old-pkg\n');
    const first = store.reload();
    const held = await until(() => release, 'the first reload to have read the files');
    await allowlist('packages:\n  - new-pkg\n');
    const second = store.reload();
    // Unordered reloads would let the second finish now; ordered, it waits for the first. Give it
    // the chance (bounded), then let the first go: only an unordered store ends on the old read.
    await Promise.race([second, new Promise((r) => setTimeout(r, 500))]);
    held();
    await Promise.all([first, second]);
    expect(names()).toEqual(['new-pkg']);
  });

  it('tells each outcome with the digests of the bytes it validated, and keeps the policy in force on problems', async () => {
    const { store, outcomes, allowlist, names } = await world();
    const good = 'packages:\n  - requests>=2.31\n';
    await allowlist(good);
    await store.reload('watch');
    const digests = [{ file: 'allowlists/pypi.yaml', sha256: createHash('sha256').update(good).digest('hex') }];
    expect(outcomes.at(-1)).toMatchObject({
      result: 'applied',
      trigger: 'watch',
      filesChanged: true,
      policyChanged: true,
      files: { digests, fingerprint: filesFingerprint(digests) },
    });
    expect(store.files.digests).toEqual(digests);

    await store.reload('notify');
    expect(outcomes.at(-1)).toMatchObject({ result: 'applied', trigger: 'notify', filesChanged: false, policyChanged: false });

    await allowlist('packages:\n  - requests>=2.31\n  - "numpy>=>1"\n');
    const err = await store.reload('signal').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).status).toBe(422);
    expect((err as PolicyError).problems).toEqual([
      expect.objectContaining({ line: 3, file: expect.stringMatching(/allowlists\/pypi\.yaml$/) }),
    ]);
    const rejected = outcomes.at(-1)!;
    expect(rejected).toMatchObject({ result: 'rejected', trigger: 'signal' });
    expect(rejected.result === 'rejected' && rejected.files.fingerprint).not.toBe(filesFingerprint(digests));
    expect(names()).toEqual(['requests']);
    expect(store.files.digests).toEqual(digests);
  });

  it('refreshes API exceptions while the files are invalid: a revocation leaves the policy at once', async () => {
    const { dir, store, allowlist, names } = await world();
    // Rules as the API's exceptions give them (read here from a file of their own).
    await mkdir(join(dir, 'api', 'exceptions'), { recursive: true });
    await writeFile(
      join(dir, 'api', 'exceptions', 'api.yaml'),
      ['exceptions:', '  - { id: EXC-9, ecosystem: pypi, package: revoked-pkg, view: "*", reason: approved, expires: 2099-01-01 }'].join(
        '\n',
      ),
    );
    const { loadPolicyFiles } = await import('../../src/policy/load.js');
    const { grammars } = await import('../../src/ecosystems/index.js');
    const apiRules = (
      await loadPolicyFiles(
        { allowlistDir: join(dir, 'api', 'none'), exceptionsDir: join(dir, 'api', 'exceptions') },
        { grammars, views: new Set(['default']) },
      )
    ).rules;
    let active = apiRules;
    store.addRuleSource(async () => active);
    await allowlist('packages:\n  - requests\n');
    await store.reload();
    expect(names()).toEqual(['requests', 'revoked-pkg']);

    await allowlist('packages:\n  - requests\n  - "numpy>=>1"\n');
    active = [];
    await expect(store.reload('notify')).rejects.toBeInstanceOf(PolicyError);
    expect(names()).toEqual(['requests']);
  });

  it('retries a notified reload that could not read the other sources, until the new rules are in force', async () => {
    const { dir, store, allowlist, names } = await world();
    await mkdir(join(dir, 'api', 'exceptions'), { recursive: true });
    await writeFile(
      join(dir, 'api', 'exceptions', 'api.yaml'),
      ['exceptions:', '  - { id: EXC-7, ecosystem: pypi, package: late-pkg, view: "*", reason: approved, expires: 2099-01-01 }'].join('\n'),
    );
    const { loadPolicyFiles } = await import('../../src/policy/load.js');
    const later = (
      await loadPolicyFiles(
        { allowlistDir: join(dir, 'api', 'none'), exceptionsDir: join(dir, 'api', 'exceptions') },
        { grammars, views: new Set(['default']) },
      )
    ).rules;
    let down = false;
    let active: typeof later = [];
    store.addRuleSource(async () => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return active;
    });
    await allowlist('packages:\n  - requests\n');
    await store.reload();
    // A notification (another replica committed new rules) arrives while the source cannot be read.
    down = true;
    active = later;
    const log = { warn: () => undefined, info: () => undefined };
    const reloads = new CatalogReloads(log as never, { baseMs: 20, maxMs: 50 });
    try {
      store.reloadVia(reloads);
      await new Promise((r) => setTimeout(r, 100));
      expect(names()).toEqual(['requests']);
      down = false;
      await until(() => names().includes('late-pkg') || undefined, 'the retried reload to bring in the new rules');
    } finally {
      reloads.close();
    }
  });

  it('keeps the last known API exceptions when they cannot be read, so a file edit still applies', async () => {
    const { store, outcomes, allowlist, names } = await world();
    let down = false;
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    store.addRuleSource(async () => {
      if (down) throw refused;
      return [];
    });
    await allowlist('packages:\n  - requests\n  - withdrawn-pkg\n');
    await store.reload();
    down = true;
    await allowlist('packages:\n  - requests\n');
    await store.reload();
    expect(names()).toEqual(['requests']);
    expect(outcomes.at(-1)).toMatchObject({ result: 'applied', filesChanged: true, sourcesError: refused });
  });

  it('tells a failure to read the files, or a first read of the other sources, and keeps the policy in force', async () => {
    const { dir, store, outcomes, allowlist, names } = await world();
    await allowlist('packages:\n  - requests\n');
    await store.reload();
    // The exceptions folder replaced by a file: reading it fails (not a problem in a policy file).
    await rm(join(dir, 'exceptions'), { recursive: true });
    await writeFile(join(dir, 'exceptions'), 'not a folder');
    await expect(store.reload()).rejects.toThrow(/ENOTDIR/);
    expect(outcomes.at(-1)).toMatchObject({ result: 'failed', trigger: 'request' });
    expect(names()).toEqual(['requests']);

    const fresh = PolicyStore.empty(
      configSchema.parse({ policy: { allowlistDir: join(dir, 'allowlists'), exceptionsDir: join(dir, 'none') } }),
      grammars,
    );
    const told: ReloadOutcome[] = [];
    fresh.onReload((o) => told.push(o));
    fresh.addRuleSource(async () => {
      throw new Error('database unreachable');
    });
    await expect(fresh.reload('start')).rejects.toThrow(/database unreachable/);
    expect(told).toMatchObject([{ result: 'failed', trigger: 'start' }]);
    expect(fresh.policy.rules).toHaveLength(0);
  });

  it('never reads hidden YAML files in the policy folders (editor lock and swap files)', async () => {
    const { dir, store, allowlist, names } = await world();
    await allowlist('packages:\n  - requests\n');
    // emacs' lock file is a dangling symlink named .#<file>; others leave hidden copies.
    await writeFile(join(dir, 'allowlists', '.pypi.yaml'), 'packages: [ "unterminated\n');
    await writeFile(join(dir, 'exceptions', '.#team.yaml'), 'not: [valid\n');
    await store.reload();
    expect(names()).toEqual(['requests']);
    expect(store.files.digests.map((d) => d.file)).toEqual(['allowlists/pypi.yaml']);
  });
});
