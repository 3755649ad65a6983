// `safelist gate check IMAGE [--wait DURATION] [--interval DURATION]`: a pipeline step that
// asks Safelist for an image's verdict, as a client of the API. Exit codes: 0 pass (or a
// report-only failure, printed as a warning), 1 fail, 2 no verdict in time, no verdict at all,
// or an error. IMAGE is [registry-host/]repository[:tag] or …@sha256:….
// The server is --url or SAFELIST_URL; the token is SAFELIST_TOKEN (role pipeline).
import { parseArgs } from 'node:util';
import { durationMs, type Config } from '../config/schema.js';

const USAGE = `usage: safelist gate check IMAGE [--wait 10m] [--interval 5s] [--json]
  IMAGE: [registry-host/]repository[:tag] or [registry-host/]repository@sha256:…
  exit 0 pass, 1 fail, 2 no verdict in time or error
  (server: --url or SAFELIST_URL; identity: SAFELIST_TOKEN with the pipeline role)
`;

interface VerdictJson {
  image: { registry: string; repository: string; digest: string };
  state: 'pending' | 'pass' | 'fail' | 'no-verdict';
  reason: string | null;
  blocked?: string | null;
  purged: string | null;
  verdict: null | {
    reportOnly: boolean;
    reasons: string[];
    failures: Array<{
      finding: { id: string; severity: string; package: string; installedVersion: string; fixedVersion?: string };
      rule: string;
    }>;
    exempted: Array<{ finding: { id: string }; exception: { owner: string; expires: string } }>;
  };
}

export async function gateCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      wait: { type: 'string', default: '0s' },
      interval: { type: 'string', default: '5s' },
      json: { type: 'boolean' },
    },
  });
  const [sub, image] = positionals;
  if (sub !== 'check' || !image) {
    process.stderr.write(USAGE);
    return 2;
  }
  let waitMs: number;
  let intervalMs: number;
  try {
    waitMs = durationMs(values.wait!);
    intervalMs = Math.max(100, durationMs(values.interval!));
  } catch {
    process.stderr.write(`safelist gate: --wait and --interval take durations such as 90s, 10m or 1h\n${USAGE}`);
    return 2;
  }
  const base = (values.url ?? process.env.SAFELIST_URL ?? config.server.publicUrl ?? `http://127.0.0.1:${config.server.port}`).replace(
    /\/$/,
    '',
  );
  const token = process.env.SAFELIST_TOKEN;
  const deadline = Date.now() + waitMs;
  let last: string;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/gate/verdicts?image=${encodeURIComponent(image)}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    } catch (err) {
      process.stderr.write(`safelist gate: cannot reach Safelist at ${base}: ${(err as Error).message} (set --url or SAFELIST_URL)\n`);
      return 2;
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.ok) {
      const v = body as unknown as VerdictJson;
      if (v.state !== 'pending') return report(v, Boolean(values.json));
      last = `pending: ${v.reason ?? 'waiting for a scan result'}`;
    } else if (res.status === 404) {
      last = String(body.detail ?? 'the gate has not seen this image');
    } else {
      process.stderr.write(
        `safelist gate: ${res.status} ${String(body.title ?? res.statusText)}: ${String(body.detail ?? '')}${res.status === 401 && !token ? ' (set SAFELIST_TOKEN)' : ''}\n`,
      );
      return 2;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      process.stdout.write(`NO VERDICT ${image} within ${values.wait}: ${last}\n`);
      return 2;
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}

function report(v: VerdictJson, json: boolean): number {
  if (json) process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  const ref = `${v.image.repository}@${v.image.digest}`;
  const lines: string[] = [];
  if (v.state === 'no-verdict') lines.push(`NO VERDICT ${ref}: ${v.reason ?? ''}`);
  else {
    const head = v.state === 'pass' ? 'PASS' : v.verdict?.reportOnly ? 'FAIL (report-only, not enforced)' : 'FAIL';
    lines.push(
      `${head} ${ref}${v.purged === 'purged' ? ' (deleted from the registry)' : v.purged === 'failed' ? `${v.blocked === 'blocked' ? ' (blocked for pulls, but ' : ' ('}the purge failed: delete it by hand)` : ''}`,
    );
    for (const r of v.verdict?.reasons ?? []) lines.push(`  ${r}`);
    for (const f of v.verdict?.failures ?? []) {
      lines.push(
        `  ${f.finding.id} ${f.finding.severity} in ${f.finding.package} ${f.finding.installedVersion}${f.finding.fixedVersion ? ` (fixed in ${f.finding.fixedVersion})` : ''}: ${f.rule}`,
      );
    }
    for (const e of v.verdict?.exempted ?? [])
      lines.push(`  exempted: ${e.finding.id} (owner ${e.exception.owner}, until ${e.exception.expires})`);
  }
  if (!json) process.stdout.write(`${lines.join('\n')}\n`);
  if (v.state === 'pass') return 0;
  if (v.state === 'fail') return v.verdict?.reportOnly ? 0 : 1;
  return 2;
}
