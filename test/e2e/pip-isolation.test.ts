// Proves the pip harness is isolated from this machine's pip configuration (extra indexes and
// find-links full of wheels): otherwise a pip test could pass with files Safelist never served.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipInstall, runPython } from '../support/pip.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';

describe('pip test harness isolation', () => {
  let sl: TestSafelist;
  beforeAll(async () => {
    sl = await startTestSafelist({ allowlist: 'packages:\n  - wheel\n' });
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('sees no pip configuration from the machine', async () => {
    const r = await runPython(['-m', 'pip', 'config', 'list']);
    expect(r.code, r.output).toBe(0);
    // Only what the harness itself sets; none of the machine's indexes, links or constraints.
    expect(r.stdout).not.toMatch(/index-url|find-links|constraint|extra-index/);
    for (const line of r.stdout.trim().split('\n').filter(Boolean))
      expect(line).toMatch(/^:env:\.(config-file|disable-pip-version-check)=/);
  });

  it('cannot install an allowlisted project that Safelist has not stored, whatever the machine has locally', async () => {
    const r = await pipInstall({
      indexUrl: `${sl.url}/pypi/default/simple/`,
      requirements: ['wheel'],
      target: await mkdtemp(join(tmpdir(), 'safelist-iso-')),
    });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/No matching distribution found for wheel/);
    expect(r.output).not.toMatch(/Looking in links|file:\/\//);
  });
});
