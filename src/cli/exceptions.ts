// `safelist exceptions …`: the exception workflow from a terminal, as a client of the API
// (so the same identities, roles and checks apply as for any other caller).
//   request ECOSYSTEM NAME VERSIONS --view V --reason TEXT [--expires DATE]
//   list [--state S] [--view V] [--name N]   show ID   approve|reject|revoke ID [--note TEXT]
//   export [--state active]   (YAML for exceptions/*.yaml, the Git-reviewed form)
// The server is --url or SAFELIST_URL (default server.publicUrl, else http://127.0.0.1:PORT);
// the token is SAFELIST_TOKEN (an Entra access token or a static token).
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { Config } from '../config/schema.js';

const USAGE = `usage: safelist exceptions request ECOSYSTEM NAME [VERSIONS] --view V --reason TEXT [--expires YYYY-MM-DD]
       safelist exceptions list [--state S] [--view V] [--name N]
       safelist exceptions show|approve|reject|revoke ID [--note TEXT]
       safelist exceptions export [--state active]
  (server: --url or SAFELIST_URL; identity: SAFELIST_TOKEN)
`;

interface ExceptionJson {
  id: string;
  ecosystem: string;
  name: string;
  versions: string;
  view: string;
  reason: string;
  state: string;
  requestedByName: string;
  requestedBy: string;
  decidedBy: string | null;
  decidedByName: string | null;
  expiresAt: string;
  triage?: {
    upstream?: { known: boolean; matching: string[]; note?: string };
    dependencies?: { notAllowed: Array<{ name: string }> };
    similarNames?: Array<{ name: string }>;
    licence?: string | null;
    vulnerabilities?: { note: string };
  };
}

export async function exceptionsCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      view: { type: 'string' },
      reason: { type: 'string' },
      expires: { type: 'string' },
      state: { type: 'string' },
      name: { type: 'string' },
      note: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [sub, ...args] = positionals;
  const base = (values.url ?? process.env.SAFELIST_URL ?? config.server.publicUrl ?? `http://127.0.0.1:${config.server.port}`).replace(
    /\/$/,
    '',
  );
  const token = process.env.SAFELIST_TOKEN;
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }).catch((err: Error) => {
      throw new CliFailure(`cannot reach Safelist at ${base}: ${err.message} (set --url or SAFELIST_URL)`);
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok)
      throw new CliFailure(
        `${res.status} ${String(json.title ?? res.statusText)}: ${String(json.detail ?? '')}${res.status === 401 && !token ? ' (set SAFELIST_TOKEN)' : ''}`,
      );
    return json;
  };
  const print = (e: ExceptionJson) => {
    if (values.json) return void process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    const lines = [
      `${e.id}  ${e.state}  ${e.ecosystem} ${e.name} ${e.versions || '(any version)'}  view ${e.view}  expires ${e.expiresAt.slice(0, 10)}`,
      `  requested by ${e.requestedByName}: ${e.reason}`,
      ...(e.decidedByName ? [`  decided by ${e.decidedByName}`] : []),
    ];
    const t = e.triage;
    if (t?.upstream)
      lines.push(
        `  upstream: ${t.upstream.known ? `versions matching: ${t.upstream.matching.join(', ') || 'none'}` : (t.upstream.note ?? 'unknown')}`,
      );
    if (t?.dependencies?.notAllowed.length)
      lines.push(`  dependencies not allowed yet: ${t.dependencies.notAllowed.map((d) => d.name).join(', ')}`);
    if (t?.similarNames?.length) lines.push(`  similar allowed names (typosquat?): ${t.similarNames.map((s) => s.name).join(', ')}`);
    if (t?.licence) lines.push(`  licence: ${t.licence}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  };
  try {
    switch (sub) {
      case 'request': {
        const [ecosystem, name, versions = ''] = args;
        if (!ecosystem || !name || !values.view || !values.reason) break;
        print(
          (await call('POST', '/api/v1/exceptions', {
            ecosystem,
            name,
            versions,
            view: values.view,
            reason: values.reason,
            ...(values.expires ? { expires: values.expires } : {}),
          })) as ExceptionJson,
        );
        return 0;
      }
      case 'list': {
        const q = new URLSearchParams();
        for (const k of ['state', 'view', 'name'] as const) if (values[k]) q.set(k, values[k]);
        const { exceptions } = (await call('GET', `/api/v1/exceptions?${q}`)) as { exceptions: ExceptionJson[] };
        if (values.json) process.stdout.write(`${JSON.stringify(exceptions, null, 2)}\n`);
        else
          for (const e of exceptions)
            process.stdout.write(
              `${e.id}  ${e.state.padEnd(9)}  ${e.ecosystem} ${e.name} ${e.versions || '*'}  view ${e.view}  by ${e.requestedByName}\n`,
            );
        return 0;
      }
      case 'show':
      case 'approve':
      case 'reject':
      case 'revoke': {
        const id = args[0];
        if (!id) break;
        print(
          (await (sub === 'show'
            ? call('GET', `/api/v1/exceptions/${encodeURIComponent(id)}`)
            : call(
                'POST',
                `/api/v1/exceptions/${encodeURIComponent(id)}/${sub}`,
                values.note ? { note: values.note } : {},
              ))) as ExceptionJson,
        );
        return 0;
      }
      case 'export': {
        const { exceptions } = (await call('GET', `/api/v1/exceptions?state=${values.state ?? 'active'}&limit=500`)) as {
          exceptions: ExceptionJson[];
        };
        const doc = {
          exceptions: exceptions.map((e) => ({
            id: e.id,
            ecosystem: e.ecosystem,
            package: `${e.name}${e.versions}`,
            view: e.view,
            reason: e.reason,
            requested_by: e.requestedBy,
            approved_by: e.decidedBy,
            expires: e.expiresAt.slice(0, 10),
          })),
        };
        process.stdout.write(
          `# Exported from ${base} on ${new Date().toISOString()}: exceptions approved through the API.\n${stringify(doc)}`,
        );
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof CliFailure) {
      process.stderr.write(`safelist exceptions: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stderr.write(USAGE);
  return 2;
}

class CliFailure extends Error {}
