// A real browser for console tests: Debian's chromium (found on PATH, never a bundled or
// downloaded one) driven headless by playwright-core, one fresh context per test, axe-core's
// checks run in the page, and screenshots written to docs/ only when UPDATE_SCREENSHOTS=1 (so a
// normal run never dirties the tree). It must never weaken the console's Content-Security-Policy:
// axe is evaluated through the DevTools protocol (page.evaluate), which the page's CSP does not
// govern; addScriptTag would be an inline <script> that the console's `script-src 'self'` refuses.
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { AxeResults, Result } from 'axe-core';

const CANDIDATES = ['chromium', 'chromium-browser'];
export const VIEWPORT = { width: 1280, height: 800 };
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The chromium executable on PATH, or undefined. */
export function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of CANDIDATES) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not in this folder: try the next one
      }
    }
  }
  return undefined;
}

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (its own cookies and storage) at 1280×800; closed by close() if not before. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Launches chromium headless; fails with what to install when it is not on PATH. */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = findChromium();
  if (!executablePath)
    throw new Error(
      `no chromium on PATH (looked for ${CANDIDATES.join(', ')}); install Debian's chromium (scripts/test-deps) to run the browser tests`,
    );
  const browser = await chromium.launch({ executablePath, headless: true, timeout: 60_000 });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newContext() {
      const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-GB', reducedMotion: 'reduce' });
      context.setDefaultTimeout(30_000);
      context.setDefaultNavigationTimeout(60_000);
      contexts.push(context);
      context.once('close', () => contexts.splice(contexts.indexOf(context), 1));
      return context;
    },
    async close() {
      for (const c of contexts) await c.close();
      await browser.close();
    },
  };
}

/**
 * Collects what the page's CSP refused (chromium logs each refusal to the console), so a test
 * can show that the console's own script and stylesheet run under its policy.
 */
export function watchCspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(m.text());
  });
  return seen;
}

let axeSource: Promise<string> | undefined;

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules, best practices). */
export async function seriousViolations(page: Page): Promise<Result[]> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const source = await axeSource;
  await page.evaluate(source);
  const results = await page.evaluate<AxeResults>(() =>
    (window as unknown as { axe: { run(ctx: Document, o: object): Promise<AxeResults> } }).axe.run(document, {
      resultTypes: ['violations'],
    }),
  );
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** One line per violation and node, for an assertion message a person can act on. */
export function describeViolations(violations: Result[]): string {
  return violations
    .flatMap((v) => v.nodes.map((n) => `${v.impact} ${v.id}: ${v.help} at ${n.target.join(' ')} (${n.failureSummary ?? ''})`))
    .join('\n');
}

/** Whether this run writes screenshots (UPDATE_SCREENSHOTS=1). */
export const UPDATING_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

/** Writes docs/console/<name>.png (the viewport, 1280×800) when UPDATE_SCREENSHOTS=1; otherwise nothing. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!UPDATING_SCREENSHOTS) return;
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`screenshot name ${name}: lowercase letters, digits and dashes only`);
  const dir = join(REPO, 'docs', 'console');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false, animations: 'disabled' });
}
