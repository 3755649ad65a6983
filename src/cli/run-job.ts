// How a CLI command runs a job: in this process through the runner (PostgreSQL, or the
// embedded database when no server owns it — this process then owns the folder while it runs),
// or, when a running `safelist serve` owns the PGlite folder, by handing the job to that server
// (POST /api/v1/jobs/{name} with the token from the folder's lock file), printing the events
// and outcome it streams back exactly as a local run prints them, with the same exit code.
// Never opens a PGlite folder another process holds; when it can neither run nor hand over,
// it says why and what to do (exit 2).
import { hostname, userInfo } from 'node:os';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { openRuntime } from '../runtime.js';
import { lockHolderOf, type LockHolder } from '../state/folder-lock.js';
import { Notifier } from '../notify/notifier.js';
import { JobRunner } from '../jobs/runner.js';
import type { AnyJob, JobOutcome, JobStreamLine } from '../jobs/types.js';
import { JobPrinter, type Io } from './job-output.js';

const stdio: Io = { out: process.stdout, err: process.stderr };

/** The OS account running the command, for the audit trail ("cli:<user>"). */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

export async function runJobFromCli(
  config: Config,
  job: AnyJob,
  params: Record<string, unknown>,
  command: string,
  io: Io = stdio,
): Promise<number> {
  const printer = new JobPrinter(io, { dryRun: params.dryRun === true });
  let rt;
  try {
    rt = await openRuntime(config, { holder: `safelist ${command}` });
  } catch (err) {
    const holder = lockHolderOf(err);
    // Only to a server on this machine: its URL is a loopback address, and the token is its admin token.
    if (holder?.url && holder.token && holder.host === hostname()) return handOff(holder, job, params, printer, io);
    throw err; // DATABASE_IN_USE without a server to hand to: main prints what to do
  }
  try {
    // Progress and failures reach the user through the printer; the runner's log stays quiet.
    // Webhooks a job posts to (malware blocked) are sent from here, and waited for before exit.
    const notifier = new Notifier(config, pino({ level: 'warn' }, process.stderr));
    const runner = new JobRunner({ runtime: rt, config, log: pino({ level: 'silent' }), notifier });
    const outcome = await runner.run(job, params, { actor: cliActor(), onEvent: (name, e) => printer.event(name, e) });
    await notifier.drain(10_000);
    notifier.stop();
    return printer.outcome(job.name, outcome);
  } finally {
    await rt.close();
  }
}

async function handOff(holder: LockHolder, job: AnyJob, params: Record<string, unknown>, printer: JobPrinter, io: Io): Promise<number> {
  const url = `${holder.url}/api/v1/jobs/${encodeURIComponent(job.name)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${holder.token}`, 'content-type': 'application/json', 'x-safelist-actor': cliActor().slice(4) },
      body: JSON.stringify(params),
    });
  } catch (err) {
    io.err.write(
      `safelist: the Safelist server (pid ${holder.pid}) owns the embedded database but does not answer at ${holder.url} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); wait until it is up, or stop it and run this again\n`,
    );
    return 2;
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch((e: Error) => `(body unreadable: ${e.message})`);
    io.err.write(`safelist: the server at ${holder.url} refused the ${job.name} job: ${res.status} ${text}\n`);
    return 2;
  }
  let outcome: { job: string; outcome: JobOutcome } | undefined;
  let buffered = '';
  const decoder = new TextDecoder();
  const take = (text: string) => {
    let l: JobStreamLine;
    try {
      l = JSON.parse(text) as JobStreamLine;
    } catch {
      throw new Error(`the server at ${holder.url} sent a line that is not a job event: ${text.slice(0, 200)}`);
    }
    if ('outcome' in l) outcome = l;
    else printer.event(l.job, l.event);
  };
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text.trim()) take(text);
    }
  }
  if (buffered.trim()) take(buffered);
  if (!outcome) {
    io.err.write(
      `safelist: the server at ${holder.url} ended the ${job.name} job's stream without its outcome (did it stop?); see its log, and the audit trail for whether it finished\n`,
    );
    return 2;
  }
  return printer.outcome(outcome.job, outcome.outcome);
}
