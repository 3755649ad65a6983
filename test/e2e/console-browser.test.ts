// The console in a real browser (Debian's chromium through playwright-core), with real parts
// around it: a PEP 503 upstream on nginx, a docker-registry that notifies the gate, the OpenID
// provider the console signs in with, and real pip. A requester signs in, finds a blocked package
// by a typo, reads why, and requests it together with its missing dependency using the keyboard
// alone (focus visible at every stop); an approver, another identity in another browser context,
// approves both from the queue (its "select all" is the console's script, running under the
// strict CSP); the approval syncs the dependency from the upstream and pip installs the package
// in that view from Safelist. The gate page shows a failed image's findings and its purge. Every
// console page passes axe-core with no serious or critical violation, no page logs a CSP
// refusal, and with UPDATE_SCREENSHOTS=1 each page is saved to docs/console/<page>.png.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importPypiDir } from '../../src/ecosystems/pypi/importer.js';
import { openedPypi } from '../../src/ecosystems/pypi/module.js';
import {
  describeViolations,
  launchBrowser,
  screenshot,
  seriousViolations,
  watchCspViolations,
  type TestBrowser,
} from '../support/browser.js';
import { createLayout, sh, type Layout } from '../support/images.js';
import { startNginxUpstream, type NginxUpstream } from '../support/nginx-upstream.js';
import { startOidcProvider, TEST_IDENTITIES, type TestOidcProvider } from '../support/oidc-provider.js';
import { pipInstall } from '../support/pip.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { trivyReport } from '../support/trivy.js';
import { until } from '../support/wait.js';
import { buildWheel, type BuiltWheel } from '../support/wheels.js';
import { SYSTEM } from '../../src/exceptions/scope.js';

const WEBHOOK_TOKEN = 'browser-webhook-token-0123456789';
const PIPELINE_TOKEN = 'browser-pipeline-token-0123456789';
const IDENTITIES = {
  ...TEST_IDENTITIES,
  admin: { oid: 'oid-ada-admin', name: 'ada@example.com', roles: ['Safelist.Admin'] },
};
type Who = keyof typeof IDENTITIES;

describe('the console in a real browser', () => {
  let work: string;
  let upstream: NginxUpstream;
  let registry: TestRegistry;
  let layout: Layout;
  let op: TestOidcProvider;
  let sl: TestSafelist;
  let browser: TestBrowser;
  const wheels: Record<string, BuiltWheel> = {};
  const sessions = new Map<Who, BrowserContext>();
  /** Per page name: axe-core's serious or critical violations (empty: none), and the CSP refusals seen. */
  const checked = new Map<string, { violations: string; csp: string[] }>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'safelist-browser-'));
    const packages = join(work, 'upstream');
    wheels.demo = await buildWheel(packages, {
      name: 'demo-pkg',
      version: '1.0',
      requiresDist: ['helper-lib>=1', 'pytest; extra == "test"'],
      license: 'MIT',
      modules: { demo_pkg: 'VERSION = "1.0"\n' },
    });
    wheels.helper = await buildWheel(packages, { name: 'helper-lib', version: '1.0', modules: { helper_lib: 'OK = True\n' } });
    upstream = await startNginxUpstream({ packagesDir: packages });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    registry = await startRegistry({
      notify: [
        { name: 'safelist', url: `${url}/api/v1/gate/webhooks/distribution`, headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` } },
      ],
    });
    op = await startOidcProvider([url], IDENTITIES);
    sl = await startTestSafelist({
      views: { 'team-a': {} },
      allowlist: '# Reviewed by the platform team\npackages:\n  - "demo-pkg<1"\n',
      upstreams: [{ name: 'upstream', url: upstream.url }],
      extra: {
        server: { host: '127.0.0.1', port, logLevel: 'warn', publicUrl: url },
        auth: {
          console: { oidc: op.consoleConfig(url) },
          tokens: [
            { id: 'registry', token: WEBHOOK_TOKEN, roles: ['webhook'] },
            { id: 'ci', token: PIPELINE_TOKEN, roles: ['pipeline'] },
          ],
        },
        gate: {
          registries: [{ name: 'local', url: registry.url }],
          pollBase: '200ms',
          pollMax: '1s',
          reconcileSchedule: '',
          scanDeadline: '10m',
        },
      },
    });
    await writeFile(join(sl.dir, 'allowlists', 'containers.yaml'), 'severity: high\nfixableOnly: true\n');
    await sl.runtime.policies.reload();
    // The blocked version was put in by `safelist import` (a folder of files) with its core
    // metadata, so the triage can read its dependencies; the dependency is only upstream.
    const imported = join(work, 'import');
    await mkdir(imported);
    await copyFile(wheels.demo.path, join(imported, wheels.demo.filename));
    await importPypiDir(imported, { store: sl.runtime.store, catalog: openedPypi(sl.runtime).catalog });
    layout = await createLayout();
    await layout.image('bad', { 'app/bad.txt': 'vulnerable\n' });
    index = `${sl.url}/pypi/team-a/simple/`;
    browser = await launchBrowser();
  });

  // Fresh browser contexts (cookies, storage) for every test: each signs its people in again.
  afterEach(async () => {
    for (const context of sessions.values()) await context.close();
    sessions.clear();
  });

  afterAll(async () => {
    await browser?.close();
    await sl?.stop();
    await op?.stop();
    await registry?.stop();
    await upstream?.stop();
    await layout?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Runs axe-core on the page as it is, keeps the result under `name`, and saves its screenshot (UPDATE_SCREENSHOTS=1). */
  async function check(page: Page, name: string, csp: string[]): Promise<void> {
    checked.set(name, { violations: describeViolations(await seriousViolations(page)), csp: [...csp] });
    await screenshot(page, name);
  }

  /** A browser context signed in as `who` through the OpenID provider's own pages (one per person and test). */
  async function signedIn(who: Who): Promise<BrowserContext> {
    const existing = sessions.get(who);
    if (existing) return existing;
    const context = await browser.newContext();
    const page = await context.newPage();
    const csp = watchCspViolations(page);
    await page.goto(`${sl.url}/ui/`);
    await page.waitForURL(/\/ui\/sign-in\?next=/);
    if (!checked.has('sign-in')) await check(page, 'sign-in', csp);
    await page.getByRole('button', { name: 'Sign in with Microsoft' }).click();
    await page.getByRole('button', { name: `Sign in as ${IDENTITIES[who].name} (${who})` }).click();
    await page.waitForURL(`${sl.url}/ui/`);
    await expect.poll(() => page.locator('header.top').innerText()).toContain(`Signed in as ${IDENTITIES[who].name}`);
    await page.close();
    sessions.set(who, context);
    return context;
  }

  async function open(who: Who, path: string): Promise<{ page: Page; csp: string[] }> {
    const page = await (await signedIn(who)).newPage();
    const csp = watchCspViolations(page);
    const res = await page.goto(`${sl.url}${path}`);
    expect(res?.status(), `${path} as ${who}`).toBe(200);
    return { page, csp };
  }

  /** What has keyboard focus, and whether it is drawn (a solid outline at least 2px wide). */
  const focus = (page: Page) =>
    page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      const style = el ? getComputedStyle(el) : undefined;
      return {
        id: el?.id ?? '',
        text: (el?.textContent ?? '').trim(),
        visible: !!style && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
      };
    });

  let requested: string[] = [];
  let index: string; // the team-a view's simple index

  it('a requester finds a blocked package by a typo, reads why, and requests it with its dependency using the keyboard', async () => {
    // Where it starts: pip in the workspace cannot install it.
    const refused = await pipInstall({ indexUrl: index, requirements: ['demo-pkg==1.0'], target: await mkdtemp(join(work, 'target-')) });
    expect(refused.code).not.toBe(0);
    expect(sl.served.some((s) => s.sha256 === wheels.demo!.sha256 && !s.metadata)).toBe(false);
    const { page, csp } = await open('requester', '/ui/');
    await check(page, 'search', csp);
    await page.getByLabel('Package name').fill('demo-pgk');
    await page.getByLabel('Workspace view').selectOption('team-a');
    await page.getByLabel('Package name').press('Enter');
    await page.waitForURL(/q=demo-pgk/);
    const hit = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'demo-pkg', exact: true }) });
    await expect.poll(() => hit.innerText()).toMatch(/close match[\s\S]*pypi[\s\S]*blocked/);
    await check(page, 'search-results', csp);

    await hit.getByRole('link', { name: 'demo-pkg', exact: true }).click();
    await page.waitForURL(/\/ui\/packages\/pypi\/demo-pkg\?view=team-a/);
    const version = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '1.0', exact: true }) });
    // Why: blocked, with the allowlist line that decides it.
    await expect.poll(() => version.innerText()).toMatch(/blocked[\s\S]*pypi\.yaml:3 \(<1\)/);
    await check(page, 'package', csp);

    await version.getByRole('link', { name: 'Request this version' }).click();
    await page.waitForURL(/\/ui\/request\?/);
    const dependency = page.getByLabel('Also request helper-lib (helper-lib>=1)');
    expect(await dependency.isChecked()).toBe(true);
    await check(page, 'request', csp);

    // Keyboard alone: Tab from the top of the page to the reason, type it, Tab to the submit button, Enter.
    const stops: Array<{ id: string; text: string; visible: boolean }> = [];
    for (let i = 0; i < 80 && (stops.at(-1)?.id ?? '') !== 'reason'; i++) {
      await page.keyboard.press('Tab');
      stops.push(await focus(page));
    }
    expect(stops.map((s) => s.id)).toContain('draft-dep-0'); // the dependency's box is on the way, reachable by Tab
    expect(stops.at(-1)?.id).toBe('reason');
    await page.keyboard.type('Needed for the churn model in team A; helper-lib comes with it.');
    for (let i = 0; i < 10 && stops.at(-1)?.text !== 'Submit the request'; i++) {
      await page.keyboard.press('Tab');
      stops.push(await focus(page));
    }
    expect(stops.at(-1)?.text).toBe('Submit the request');
    expect(stops.filter((s) => !s.visible)).toEqual([]);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/ui\/requests\?created=EXC-\d+,EXC-\d+$/);
    requested = new URL(page.url()).searchParams.get('created')!.split(',');
    const [main, dep] = await Promise.all(requested.map((id) => sl.runtime.exceptions.get(id, SYSTEM)));
    expect(main).toMatchObject({ name: 'demo-pkg', versions: '==1.0', view: 'team-a', state: 'requested' });
    expect(dep).toMatchObject({ name: 'helper-lib', versions: '>=1', view: 'team-a', bundle: main!.id, state: 'requested' });
    await check(page, 'requests', csp);
  });

  it('an approver approves both from the queue, and real pip then installs the package in that view from Safelist', async () => {
    expect(requested).toHaveLength(2);
    const { page, csp } = await open('approver', '/ui/queue?view=team-a');
    await check(page, 'queue', csp);
    // "Select every request" is the console's own script: it runs under the page's CSP.
    await page.getByLabel('Select every request').check();
    for (const id of requested) expect(await page.locator(`#pick-${id}`).isChecked()).toBe(true);
    await page.getByLabel(/Note to the requester/).fill('Fine for team A.');
    await page.getByRole('button', { name: 'Approve selected' }).click();
    await expect.poll(() => page.locator('p.notice[role="status"]').innerText()).toMatch(/^Approved: EXC-\d+, EXC-\d+\.$/);
    for (const id of requested) expect((await sl.runtime.exceptions.get(id, SYSTEM)).state).toBe('active');

    // The approval syncs what it allows: helper-lib comes from the upstream into Safelist's storage.
    await until(
      () =>
        openedPypi(sl.runtime)
          .catalog.project('helper-lib')
          ?.files.some((f) => f.stored),
      'helper-lib to be synced',
    );
    const target = await mkdtemp(join(work, 'target-'));
    sl.served.length = 0;
    const pip = await pipInstall({ indexUrl: index, requirements: ['demo-pkg==1.0'], target });
    expect(pip.code, pip.output).toBe(0);
    const installed = (await readdir(target)).filter((f) => f.endsWith('.dist-info')).sort();
    expect(installed).toEqual(['demo_pkg-1.0.dist-info', 'helper_lib-1.0.dist-info']);
    // Both wheels pip installed are the bytes Safelist served in view team-a.
    for (const w of [wheels.demo!, wheels.helper!])
      expect(sl.served.some((s) => s.view === 'team-a' && s.sha256 === w.sha256 && !s.metadata)).toBe(true);
  });

  it("the gate page shows a failed image's findings with their rule, and its purge", async () => {
    const digest = await layout.push('bad', registry.host, 'team/app:v2');
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${sl.url}${path}`, { ...init, headers: { authorization: `Bearer ${PIPELINE_TOKEN}`, ...init.headers } });
    await until(async () => {
      const r = await api(`/api/v1/gate/verdicts/${digest}`);
      await r.body?.cancel(); // only the status matters here
      return r.status === 200;
    }, 'the push to arrive');
    const posted = await api(`/api/v1/gate/reports/${digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        trivyReport('team/app:v2', digest, [{ id: 'CVE-2024-9999', severity: 'HIGH', pkg: 'openssl', fixed: '3.0.15' }]),
      ),
    });
    expect(posted.status).toBe(201);
    await until(async () => {
      const v = (await (await api(`/api/v1/gate/verdicts/${digest}`)).json()) as { state: string; purged: string | null };
      return v.state === 'fail' && v.purged === 'purged';
    }, 'the failed image to be purged');
    await expect(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/app@${digest}`])).rejects.toThrow(
      /manifest unknown|not found/i,
    );
    const { page, csp } = await open('admin', '/ui/gate');
    const row = page.getByRole('row').filter({ hasText: digest.slice(0, 19) });
    const text = await row.innerText();
    expect(text).toMatch(/\bfail\b/);
    expect(text).toContain('CVE-2024-9999 high in openssl 1.0.0 (fixed in 3.0.15)');
    expect(text).toContain('Rule: severity high is at or above the threshold high');
    expect(text).toMatch(/purge:\s*purged/);
    await check(page, 'gate', csp);
  });

  it('the accessibility check can fail: axe-core finds an unlabelled field and an image without text', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.setContent('<!doctype html><html lang="en"><title>t</title><main><img src="x.png"><input type="text"></main></html>');
    const ids = (await seriousViolations(page)).map((v) => v.id).sort();
    expect(ids).toEqual(expect.arrayContaining(['image-alt', 'label']));
  });

  it('every console page has no serious or critical axe-core violation, and no CSP refusal', async () => {
    const rest: Array<[string, Who, string]> = [
      ['demand', 'admin', '/ui/demand'],
      ['sync', 'admin', '/ui/sync'],
      ['audit', 'admin', '/ui/audit'],
      ['audit-verify', 'admin', '/ui/audit/verify'],
      ['onboarding', 'admin', '/ui/onboarding?view=team-a'],
    ];
    for (const [name, who, path] of rest) {
      const { page, csp } = await open(who, path);
      if (name === 'audit-verify') {
        // The button starts the audit:verify job; its verdict shows on the page once the run has finished.
        await Promise.all([page.waitForURL(`${sl.url}/ui/audit/verify`), page.click('form[action="/ui/audit/verify"] button')]);
        await until(async () => {
          await page.goto(`${sl.url}${path}`);
          return (await page.content()).includes('The chain was intact') || undefined;
        }, 'the verification started by the button to finish');
      }
      await check(page, name, csp);
    }
    // A refusal is a page too: a requester at the approvers' queue.
    const refused = await (await signedIn('requester')).newPage();
    const csp = watchCspViolations(refused);
    expect((await refused.goto(`${sl.url}/ui/queue`))?.status()).toBe(403);
    await check(refused, 'forbidden', csp);
    const pages = [
      ...['sign-in', 'search', 'search-results', 'package', 'request', 'requests', 'queue', 'gate'],
      ...rest.map(([name]) => name),
      'forbidden',
    ];
    expect([...checked.keys()].sort()).toEqual(pages.sort());
    const problems = [...checked].filter(([, r]) => r.violations || r.csp.length);
    expect(problems.map(([name, r]) => `${name}:\n${r.violations}\n${r.csp.join('\n')}`).join('\n\n')).toBe('');
  });
});
