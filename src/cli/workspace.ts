// `safelist workspace config VIEW [--url BASE] [--with-token] [--format text|json]`: prints the
// client configuration of each ecosystem (pip.conf, .condarc…) and the Azure ML environment that point a workspace at
// Safelist. --with-token embeds SAFELIST_TOKEN (for token-protected package reads), and only a
// token of this Safelist that may read VIEW: never hands out a snippet that would answer 401 or 403.
import { parseArgs } from 'node:util';
import { AuthError, Authenticator, canRead } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import { DEFAULT_VIEW } from '../policy/decide.js';
import { workspaceConfig } from '../onboarding/workspace.js';

export async function workspaceCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, 'with-token': { type: 'boolean' }, format: { type: 'string', default: 'text' } },
  });
  const [sub, view] = positionals;
  if (sub !== 'config' || !view || !['text', 'json'].includes(values.format!)) {
    process.stderr.write('usage: safelist workspace config VIEW [--url https://safelist.example] [--with-token] [--format text|json]\n');
    return 2;
  }
  const views = [DEFAULT_VIEW, ...Object.keys(config.views)];
  if (!views.includes(view)) {
    process.stderr.write(`safelist workspace: view "${view}" does not exist; configured views: ${views.join(', ')}\n`);
    return 2;
  }
  const token = values['with-token'] ? process.env.SAFELIST_TOKEN : undefined;
  if (values['with-token'] && !token) {
    process.stderr.write('safelist workspace: --with-token needs SAFELIST_TOKEN\n');
    return 2;
  }
  const refusal = token ? await tokenRefusal(config, token, view) : undefined;
  if (refusal) {
    process.stderr.write(`safelist workspace: --with-token: ${refusal}\n`);
    return 2;
  }
  const base = values.url ?? process.env.SAFELIST_URL ?? config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  const o = workspaceConfig(config, view, base, token);
  if (values.format === 'json') process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);
  else {
    for (const s of o.snippets) process.stdout.write(`## ${s.title}\n${s.text}\n`);
    process.stdout.write(`## Azure ML environment (env.yml)\n${o.azureMlEnvironment}`);
  }
  return 0;
}

/** Why this token cannot read VIEW's packages (not a token of this Safelist, or not granted the view); undefined when it can. */
async function tokenRefusal(config: Config, token: string, view: string): Promise<string | undefined> {
  const auth = new Authenticator(config.auth);
  let who;
  try {
    who = await auth.fromToken(token);
  } catch (err) {
    if (err instanceof AuthError) return `SAFELIST_TOKEN is not a token of this Safelist (${err.message})`;
    throw err;
  }
  if (canRead(who, view)) return undefined;
  return `SAFELIST_TOKEN (${who.name}) may not read the packages of view "${view}"; ${auth.readGrantHint(who, view)}, or use that view's own token`;
}
