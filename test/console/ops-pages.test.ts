// The console's platform and security pages over real HTTP, on both database modes: each page
// renders for the roles the API admits for the same data and is a 403 page for the others; the
// gate page shows a failed image's findings with the rules that decided them, its purge and its
// history, and the container policy's CVE exceptions in force and expiring; demand is a chart
// with a table; sync shows the runner's records; the audit trail filters (a bad date is a 400
// page that says what to write) and exports exactly what the API exports; the verify page shows
// the audit:verify job's last verdict and a running run's progress, and its button starts the
// job only with the CSRF token and the auditor or admin role; onboarding
// gives the view's snippets under the public URL whatever Host the browser sends. Hostile text
// (a package name, an actor, a finding) is escaped everywhere. Gate data is written through the
// gate's own store and policy (GateStore, evaluate), as the worker writes it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/gate/types.js';
import { recordBlocked } from '../../src/policy/demand.js';
import { JobRuns } from '../../src/jobs/runs.js';
import { ConsoleClient, type Page } from '../support/console-client.js';
import { DB_MODES } from '../support/databases.js';
import { startTestSafelist, type TestSafelist } from '../support/safelist.js';
import { until } from '../support/wait.js';
import { judgedImage } from '../support/gate-records.js';

const HOSTILE = '<script>alert(1)</script>';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';
const PUBLIC = 'https://safelist.example.test';
const TOKENS = {
  requester: 'ops-requester-token-0123456789',
  approver: 'ops-approver-token-0123456789',
  admin: 'ops-admin-token-0123456789',
  auditor: 'ops-auditor-token-0123456789',
  pipeline: 'ops-pipeline-token-0123456789',
} as const;
type Who = keyof typeof TOKENS;

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const soon = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

/** Which roles each page admits; the others get a 403 page. */
const PAGES: Array<[string, Who[]]> = [
  ['/ui/gate', ['pipeline', 'admin', 'auditor']],
  ['/ui/demand', ['approver', 'admin', 'auditor']],
  ['/ui/sync', ['admin', 'auditor']],
  ['/ui/audit', ['auditor', 'admin']],
  ['/ui/audit/verify', ['auditor', 'admin']],
  ['/ui/audit/export', ['auditor', 'admin']],
  ['/ui/onboarding', ['requester', 'approver', 'admin', 'auditor', 'pipeline']],
];

const containersYaml = `severity: high
exceptions:
  - { cve: CVE-2024-0001, owner: team-ml@example.com, justification: "no exploit path in our images", expires: "${soon(5)}" }
  - { cve: CVE-2024-0002, owner: team-ml@example.com, justification: "vendor fix scheduled next quarter", expires: "${soon(90)}" }
  - { cve: CVE-2023-9999, owner: team-old@example.com, justification: "an old waiver that ran out", expires: "2024-01-31" }
`;

/** A failed image as the worker records it: push, claim, the policy's verdict, the purge. */
async function failedImage(sl: TestSafelist): Promise<void> {
  const findings: Finding[] = [
    {
      id: 'CVE-2024-1234',
      severity: 'critical',
      package: HOSTILE,
      installedVersion: '1.0',
      fixedVersion: '1.1',
      fixable: true,
      source: 'trivy',
    },
    { id: 'CVE-2024-0001', severity: 'high', package: 'openssl', installedVersion: '3.0.1', fixable: false, source: 'trivy' },
  ];
  const policy = join(sl.dir, 'allowlists', 'containers.yaml');
  const v = await judgedImage(sl.runtime.db, policy, { registry: 'local', repository: 'team/app', digest: DIGEST, tag: 'v1', findings });
  expect(v.outcome).toBe('fail');
}

describe.each(DB_MODES)('console ops pages on %s', (mode) => {
  let sl: TestSafelist;
  const clients = {} as Record<Who, ConsoleClient>;
  const page = async (who: Who, path: string) => flat(await clients[who].get(path));

  beforeAll(async () => {
    sl = await startTestSafelist({
      db: mode,
      views: { 'team-a': {} },
      allowlist: 'packages:\n  - requests\n',
      extra: {
        server: { host: '127.0.0.1', port: 0, logLevel: 'warn', publicUrl: PUBLIC },
        auth: {
          tokens: [
            { id: 'oid-rita', name: 'Rita', token: TOKENS.requester, roles: ['requester'] },
            { id: 'oid-aldo', name: 'Aldo', token: TOKENS.approver, roles: ['approver'] },
            { id: 'oid-ada', name: 'Ada', token: TOKENS.admin, roles: ['admin'] },
            { id: 'oid-audrey', name: 'Audrey', token: TOKENS.auditor, roles: ['auditor'] },
            { id: 'svc-pipe', name: 'Pipeline', token: TOKENS.pipeline, roles: ['pipeline'] },
          ],
        },
      },
    });
    await writeFile(join(sl.dir, 'allowlists', 'containers.yaml'), containersYaml);
    for (const who of Object.keys(TOKENS) as Who[]) {
      clients[who] = new ConsoleClient(sl.url);
      expect((await clients[who].signInWithToken(TOKENS[who])).status).toBe(200);
    }
  });
  afterAll(async () => {
    await sl?.stop();
  });

  it('renders each page for its roles and answers the others with a 403 page; without a session, sign-in', async () => {
    for (const [path, admitted] of PAGES) {
      for (const who of Object.keys(TOKENS) as Who[]) {
        const p = await page(who, path);
        if (admitted.includes(who)) expect(p.status, `${who} ${path}`).toBe(200);
        else {
          expect(p.status, `${who} ${path}`).toBe(403);
          expect(p.headers.get('content-type')).toMatch(/^text\/html/);
          expect(p.body).toContain('this page needs one of the roles');
        }
      }
      const anonymous = await new ConsoleClient(sl.url).request('GET', path);
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toMatch(/^\/ui\/sign-in\?next=/);
    }
  });

  it('gate: a failed image with each finding and its rule, the exemption, the purge, its history, and the CVE exceptions', async () => {
    await failedImage(sl);
    const p = await page('auditor', '/ui/gate');
    expectClean(p);
    expect(p.body).toContain('local/team/app');
    expect(p.body).toContain('CVE-2024-1234');
    expect(p.body).toContain(ESCAPED);
    expect(p.body).toContain('Rule:</span>severity critical is at or above the threshold high');
    expect(p.body).toContain('CVE-2024-0001 high in openssl: exempted by team-ml@example.com');
    expect(p.body).toContain('purge:<span class="ok">purged</span>');
    expect(p.body).toContain('v1');
    // Exceptions: the one ending in 5 days is expiring; the expired one is listed apart.
    const expiring = section(p.body, '<caption>Expiring within 14 days</caption>', '</table>');
    expect(expiring).toContain('CVE-2024-0001');
    expect(expiring).not.toContain('CVE-2024-0002');
    expect(section(p.body, '<caption>In force</caption>', '</table>')).toContain('CVE-2024-0002');
    expect(section(p.body, '<caption>Expired</caption>', '</table>')).toContain('CVE-2023-9999');

    const h = await page('auditor', `/ui/gate?digest=${DIGEST}`);
    const history = section(h.body, 'History of this digest', '</table>');
    for (const action of ['gate.received', 'gate.verdict', 'gate.purged']) expect(history).toContain(action);
    expect(history.indexOf('gate.received')).toBeLessThan(history.indexOf('gate.purged'));

    const bad = await page('auditor', '/ui/gate?digest=sha256:nothex&state=maybe');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('digest: a sha256 digest');
    expect(bad.body).toContain('state:');
  });

  it('demand: the most wanted blocked packages per view as an SVG chart and a table, names escaped', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${sl.url}/pypi/team-a/simple/torchmetrics/`)).status).toBe(404);
    recordBlocked(sl.runtime.db, 'pypi', HOSTILE, 'team-a');
    const p = await until(async () => {
      const x = await page('approver', '/ui/demand?view=team-a');
      // Counted off the request path: wait for all three refusals and the hostile name.
      return x.body.includes(ESCAPED) && x.body.includes('torchmetrics</a></td><td>pypi</td><td>3</td>') ? x : undefined;
    }, 'the demand counts on the page');
    expectClean(p);
    const svg = section(p.body, '<svg', '</svg>');
    expect(svg).toContain('role="img"');
    expect(svg).toMatch(/<title id="chart-team-a">/);
    expect(svg).toContain('pypi torchmetrics');
    expect(svg).toContain(ESCAPED);
    expect(svg).not.toContain(HOSTILE);
    const table = section(p.body, '<caption>Refused requests in view team-a</caption>', '</table>');
    expect(table).toContain('torchmetrics</a></td><td>pypi</td><td>3</td>');
    // The widest bar is the most wanted one.
    const widths = [...svg.matchAll(/<rect [^>]*width="(\d+)"/g)].map((m) => Number(m[1]));
    expect(widths[0]).toBe(Math.max(...widths));
    expect((await page('approver', '/ui/demand?top=0')).status).toBe(400);
    expect((await page('approver', '/ui/demand?top=ten')).body).toContain('top');
  });

  it('sync: the last runs per ecosystem as the runner recorded them', async () => {
    await sl.syncNow();
    const p = await page('admin', '/ui/sync');
    expectClean(p);
    const pypi = section(p.body, '<h2>pypi</h2>', '</section>');
    expect(pypi).toContain('sync:pypi');
    expect(pypi).toMatch(/class="ok">done</);
    expect(pypi).toContain('1 warning(s)</span>: no PyPI upstream is configured');
    expect(section(p.body, '<h2>conda</h2>', '</section>')).toContain('no run recorded yet');

    // A run in progress (recorded by the runner's recorder, as on another replica) shows its progress.
    const running = await new JobRuns(sl.runtime.db, silent, { heartbeatMs: 50 }).start('sync:conda', 'system', {});
    running.note({ type: 'project', name: HOSTILE, index: 3, total: 10 });
    running.note({ type: 'failed', filename: 'numpy-2.0.conda', error: 'upstream answered 502' });
    try {
      const live = await until(async () => {
        const x = await page('auditor', '/ui/sync');
        return x.body.includes('3 of 10') ? x : undefined;
      }, 'the running sync on the page');
      expectClean(live);
      const conda = section(live.body, '<h2>conda</h2>', '</section>');
      expect(conda).toContain('Running since');
      expect(conda).toContain('<progress max="10" value="3">');
      expect(conda).toContain(`at ${ESCAPED}`);
      expect(conda).toContain('last failure:</span>numpy-2.0.conda: upstream answered 502');
    } finally {
      await running.finish({ status: 'failed', error: 'stopped by the test' });
    }
    const after = section((await page('admin', '/ui/sync')).body, '<h2>conda</h2>', '</section>');
    expect(after).toContain('<span class="bad">stopped by the test</span>');
    expect(after).toContain('1 of the last runs had failures');
    expect(section(p.body, 'Scheduled sync sequences', '</table>')).toMatch(/<td>sync<\/td>/);
  });

  it('audit: filters, a 400 page for a bad date, and the same export as the API', async () => {
    await sl.runtime.audit.append({ actor: HOSTILE, action: 'test.hostile', subject: 'x<y', detail: { note: HOSTILE } });
    const all = await page('auditor', '/ui/audit');
    expectClean(all);
    expect(all.body).toContain(ESCAPED);
    const hostile = await page('auditor', '/ui/audit?action=test.hostile');
    expect(hostile.body.match(/<tr><td>\d+<\/td>/g)).toHaveLength(1);
    expect(hostile.body).toContain('x&lt;y');

    for (const since of ['yesterday', '2026-13-45', '30/11/2026']) {
      const bad = await page('auditor', `/ui/audit?since=${encodeURIComponent(since)}`);
      expect(bad.status, since).toBe(400);
      expect(bad.headers.get('content-type')).toMatch(/^text\/html/);
      expect(bad.body).toContain('since');
      expect(bad.body).toContain('a date such as 2026-11-30');
    }
    const backwards = await page('auditor', '/ui/audit?since=2026-02-01&until=2026-01-01');
    expect(backwards.status).toBe(400);
    expect(backwards.body).toContain('must be before until');
    expect((await page('auditor', '/ui/audit?since=2000-01-01&until=2000-01-02')).body).toContain('No record matches');

    const exported = await clients.auditor.get('/ui/audit/export?action=test.hostile');
    expect(exported.headers.get('content-type')).toMatch(/^application\/jsonl/);
    const api = await fetch(`${sl.url}/api/v1/audit/export?action=test.hostile`, {
      headers: { authorization: `Bearer ${TOKENS.auditor}` },
    });
    expect(exported.body).toBe(await api.text());
    expect(JSON.parse(exported.body.trim())).toMatchObject({ actor: HOSTILE, action: 'test.hostile' });
    expect(all.body).toContain('href="/ui/audit/export"');
  });

  it("audit verify: the last finished run of the job, a running run's progress, and a button that needs CSRF and the auditor role", async () => {
    const runs = new JobRuns(sl.runtime.db, silent, { heartbeatMs: 50 });
    const before = await page('auditor', '/ui/audit/verify');
    expectClean(before);
    expect(before.body).toContain('No verification has finished yet');
    expect(before.body).toContain('<form method="post" action="/ui/audit/verify">');

    // Without the session's CSRF token, or for someone who is not an auditor or admin, nothing starts.
    const forged = await clients.auditor.go('POST', '/ui/audit/verify', { form: {} });
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('CSRF token missing or wrong');
    const requester = await clients.requester.post('/ui/audit/verify', await clients.requester.get('/ui/onboarding'));
    expect(requester.status).toBe(403);
    expect(requester.body).toContain('this page needs one of the roles auditor, admin');
    expect(await runs.latest(['audit:verify'])).toEqual([]);

    const started = await clients.auditor.post('/ui/audit/verify', before);
    expect([202, 200]).toContain(started.status); // 200: it finished before the page was drawn
    const done = await until(async () => {
      const x = await page('auditor', '/ui/audit/verify');
      return x.body.includes('The chain was intact') ? x : undefined;
    }, 'the verification to finish');
    expectClean(done);
    expect(done.body).toMatch(/The chain was intact: \d+ record\(s\) up to record \d+, checked against \d+ anchor\(s\)/);
    expect(done.body).toContain('Started by<code>oid-audrey</code>');

    // A run in progress (as another replica records it) shows progress, and the verdict stays the finished one.
    const running = await runs.start('audit:verify', HOSTILE, {});
    running.note({ type: 'checked', index: 4000, total: 10000 });
    try {
      const live = await until(async () => {
        const x = await page('admin', '/ui/audit/verify');
        return x.body.includes('4000 of 10000') ? x : undefined;
      }, 'the running verification on the page');
      expectClean(live);
      expect(live.body).toContain('<progress max="10000" value="4000">');
      expect(live.body).toContain('The chain was intact');
      expect(live.body).toContain(ESCAPED);
    } finally {
      await running.finish({
        status: 'done',
        result: {
          ok: false,
          records: 10000,
          anchors: 3,
          head: 10000,
          headHash: 'ab'.repeat(32),
          failed: [
            {
              name: 'record 4321 (changed)',
              seq: 4321,
              kind: 'changed',
              error: `record 4321 (${HOSTILE}) was changed after it was written`,
            },
          ],
        },
      });
    }
    const broken = await page('auditor', '/ui/audit/verify');
    expectClean(broken);
    expect(broken.body).toContain('The chain is broken: 1 problem(s) in 10000 record(s), checked against 3 anchor(s).');
    expect(broken.body).toContain(`First break: record 4321 (changed): record 4321 (${ESCAPED}) was changed after it was written`);
    expect(broken.body).not.toContain('Running now');
  });

  it("onboarding: the view's snippets under the public URL, never the Host header; an unknown view is a 404 page", async () => {
    const p = flat(await clients.requester.go('GET', '/ui/onboarding?view=team-a', { headers: { host: 'evil.example' } }));
    expectClean(p);
    expect(p.body).toContain('index-url = https://safelist.example.test/pypi/team-a/simple/');
    expect(p.body).toContain('channel_alias: https://safelist.example.test/conda/team-a');
    expect(p.body).toContain('data-copy="pip-team-a"');
    expect(p.body).toContain('registry=https://safelist.example.test/npm/team-a/');
    expect(p.body).toContain('data-copy="npmrc-team-a"');
    expect(p.body).not.toContain('evil.example');
    expect(p.body).not.toContain('extra-index-url =');
    const unknown = await page('requester', '/ui/onboarding?view=nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('view &quot;nope&quot; does not exist');
  });
});

/** The page with its markup's whitespace made canonical (the templates are laid out by Prettier). */
function flat(p: Page): Page {
  const body = p.body
    .replace(/\s+/g, ' ')
    .replace(/\s+>/g, '>')
    .replace(/\s*(<[^>]+>)\s*/g, '$1');
  return { ...p, body };
}

function expectClean(p: Page): void {
  expect(p.status).toBe(200);
  expect(p.body).not.toContain(HOSTILE);
  expect(p.body).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="/i);
}

/** The text from `start` to the next `end` (the section a check is about). */
function section(body: string, start: string, end: string): string {
  const i = body.indexOf(start);
  expect(i, `no ${start}`).toBeGreaterThanOrEqual(0);
  const j = body.indexOf(end, i);
  return body.slice(i, j < 0 ? undefined : j + end.length);
}
