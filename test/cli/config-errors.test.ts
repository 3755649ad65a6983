// Configuration mistakes as a user meets them through the `safelist` command: each bad
// environment variable named on its own line with a hint at the key it probably meant, and a
// YAML syntax error located by file, line and column without echoing the line (it may hold a secret).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

describe('safelist configuration errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safelist-config-errors-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names each bad environment variable with its own key and suggests the variable it meant', async () => {
    const config = join(dir, 'ok.yaml');
    await writeFile(config, `policy: { allowlistDir: ${join(dir, 'allowlists')}, exceptionsDir: ${join(dir, 'exceptions')} }\n`);
    const r = await cli(['--config', config, 'allowlist', 'lint'], {
      SAFELIST_GATE__POLLBASE: '10s',
      SAFELIST_GATE__POL_MAX: '5m',
      SAFELIST_SYNCH__RUN_ON_START: 'true',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'gate.pollbase: not a setting Safelist knows (from environment SAFELIST_GATE__POLLBASE); did you mean SAFELIST_GATE__POLL_BASE?',
    );
    expect(r.stderr).toContain(
      'gate.polMax: not a setting Safelist knows (from environment SAFELIST_GATE__POL_MAX); did you mean SAFELIST_GATE__POLL_MAX?',
    );
    expect(r.stderr).toContain(
      'synch: not a setting Safelist knows (from environment SAFELIST_SYNCH__RUN_ON_START); did you mean SAFELIST_SYNC__RUN_ON_START?',
    );
  });

  it('locates a YAML syntax error by file, line and column and never prints the offending line', async () => {
    const config = join(dir, 'broken.yaml');
    const secret = 'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0LWtleS1kby1ub3QtbGVhaw==';
    await writeFile(
      config,
      `server: { port: 8080 }\nstorage:\n  kind: azure\n  azure: { connectionString: "${secret}", container: blobs\n    accountUrl: x\n`,
    );
    const r = await cli(['--config', config, 'allowlist', 'lint']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`config: ${config.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid YAML: line \\d+, column \\d+: .+ \\([A-Z_]+\\)`),
    );
    expect(r.stderr).not.toContain('c2VjcmV0');
    expect(r.stderr).not.toContain('AccountKey');
    expect(r.stderr).not.toContain('connectionString');
  });
});
