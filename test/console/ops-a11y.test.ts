// The platform and security pages in a real browser: Debian's chromium, headless, driven by
// playwright-core through test/support/browser.ts (as the console's browser test), signed in
// through the static-token form; on each page (with data: a failed image, demand counts, job
// runs, an audit verification, the sessions page) axe-core finds no serious or critical
// violation, and the first Tab lands on the skip link. axe runs through the DevTools protocol
// (seriousViolations), so the console's CSP stays as served.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRuns } from '../../src/jobs/runs.js';
import { mostWanted, recordBlocked } from '../../src/policy/demand.js';
import { describeViolations, launchBrowser, seriousViolations, type TestBrowser } from '../support/browser.js';
import { judgedImage } from '../support/gate-records.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';

const TOKEN = 'ops-a11y-token-0123456789';
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const PAGES = [
  '/ui/gate',
  `/ui/gate?digest=${DIGEST}`,
  '/ui/demand',
  '/ui/sync',
  '/ui/audit',
  '/ui/audit/verify',
  '/ui/onboarding',
  '/ui/sessions',
];

async function seed(sl: TestSafelist): Promise<void> {
  await writeFile(
    join(sl.dir, 'allowlists', 'containers.yaml'),
    `severity: high\nexceptions:\n  - { cve: CVE-2024-0001, owner: team@example.com, justification: "no exploit path here", expires: "2099-01-01" }\n`,
  );
  await judgedImage(sl.runtime.db, join(sl.dir, 'allowlists', 'containers.yaml'), {
    registry: 'local',
    repository: 'team/app',
    digest: DIGEST,
    tag: 'v2',
    findings: [
      {
        id: 'CVE-2024-4321',
        severity: 'high',
        package: 'zlib',
        installedVersion: '1.2',
        fixedVersion: '1.3',
        fixable: true,
        source: 'trivy',
      },
    ],
  });
  for (const [name, n] of [
    ['torchmetrics', 3],
    ['polars', 1],
  ] as const)
    for (let i = 0; i < n; i++) recordBlocked(sl.runtime.db, 'pypi', name, 'team-a');
  // Counted off the request path: wait until both are in, so the chart is on the page axe reads.
  await until(async () => (await mostWanted(sl.runtime.db)).length === 2, 'the demand counts');
  const run = await new JobRuns(sl.runtime.db, { info: () => undefined, warn: () => undefined, error: () => undefined }).start(
    'sync:pypi',
    'system',
    {},
  );
  run.note({ type: 'project', name: 'requests', index: 1, total: 2 });
  await run.finish({
    status: 'done',
    result: { downloaded: 1, failed: [{ filename: 'requests-2.0.whl', error: 'upstream answered 500' }] },
  });
  const verify = await new JobRuns(sl.runtime.db, { info: () => undefined, warn: () => undefined, error: () => undefined }).start(
    'audit:verify',
    'system',
    {},
  );
  await verify.finish({
    status: 'done',
    result: { ok: false, records: 3, anchors: 1, head: 3, failed: [{ name: 'record 2 (changed)', error: 'record 2 was changed' }] },
  });
}

describe('console ops pages in chromium', () => {
  let sl: TestSafelist;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: {
        server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl: 'http://127.0.0.1:9' },
        auth: { tokens: [{ id: 'oid-ops', name: 'Ops', token: TOKEN, roles: ['admin', 'auditor'] }] },
      },
    });
    await seed(sl);
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    await page.goto(`${sl.url}/ui/sign-in`);
    await page.fill('input[name="token"]', TOKEN);
    await Promise.all([page.waitForURL(`${sl.url}/ui/`), page.click('form[action="/ui/sign-in"] button[type="submit"]')]);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await sl?.stop();
  });

  it.each(PAGES)('%s: no serious or critical axe violation; the first Tab reaches the skip link', async (path) => {
    const res = await page.goto(`${sl.url}${path}`);
    expect(res?.status()).toBe(200);
    if (path === '/ui/demand') expect(await page.locator('svg[role="img"] rect').count()).toBe(2);
    const violations = await seriousViolations(page);
    expect(violations, describeViolations(violations)).toEqual([]);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Skip to content');
  });
});
