// `safelist allowlist check` for PyPI: allowed files whose Requires-Dist has no allowed,
// stored candidate in a view are reported; extras are optional; markers are named.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { checkPypiInstallability } from '../../src/ecosystems/pypi/installability.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { buildWheel } from '../support/wheels.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';

describe('PyPI installability from Requires-Dist', () => {
  let sl: TestSafelist;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - app\n  - "lib<2"\n',
      exceptions: {
        'e.yaml': 'exceptions:\n  - { id: P-1, ecosystem: pypi, package: "lib==2.0", view: team-a, reason: x, expires: 2099-12-31 }\n',
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'safelist-reqs-'));
    await buildWheel(dir, {
      name: 'app',
      version: '1.0',
      requiresDist: ['lib>=2', 'missing-dep', 'docs-tool; extra == "docs"', 'tomli>=1; python_version < "3.11"'],
    });
    await buildWheel(dir, { name: 'lib', version: '1.0' });
    await buildWheel(dir, { name: 'lib', version: '2.0' });
    const report = await importPypiDir(dir, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    expect(report.skipped).toEqual([]);
  });

  afterAll(async () => {
    await sl?.stop();
  });

  it('reports requirements without an allowed candidate, per view', async () => {
    const problems = await checkPypiInstallability(
      openedPypi(sl.runtime).readModel,
      openedPypi(sl.runtime).catalog,
      sl.runtime.store,
      sl.runtime.policies.policy,
    );
    const lines = problems.map((p) => `${p.view} ${p.project} ${p.version} "${p.requirement}": ${p.reason}`);
    expect(lines).toEqual([
      'default app 1.0 "lib>=2": no allowed and mirrored version of lib matches ">=2"',
      expect.stringMatching(
        /^default app 1\.0 "missing-dep": missing-dep is blocked by Safelist policy in view default: it is not on the allowlist/,
      ),
      expect.stringMatching(
        /^default app 1\.0 "tomli>=1; python_version < "3\.11"": tomli is blocked .* \(needed when python_version < "3\.11"\)$/,
      ),
      expect.stringMatching(/^team-a app 1\.0 "missing-dep": missing-dep is blocked/),
      expect.stringMatching(/^team-a app 1\.0 "tomli>=1/),
    ]);
  });
});
