// POST /api/v1/jobs/{name}: runs a job in this server for a caller — the CLI handing over its
// job when this server owns the embedded database, or an admin — and answers NDJSON: one line
// per progress event ({"job","event"}) as it happens, then the outcome ({"job","outcome"}).
// Admits the admin role (or the roles a job names: auditors for audit:verify), or the per-start
// local token this server wrote into its PGlite folder's lock file (mode 0600: only who can read
// the data folder can use it).
// Never runs a job whose parameters its schema refuses (400 naming the field).
import { timingSafeEqual, createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/identity.js';
import { errors } from '../errors.js';
import { parse, requireRole } from './api.js';
import type { JobRunner } from '../jobs/runner.js';
import type { AnyJob, JobStreamLine } from '../jobs/types.js';

export interface JobRouteDeps {
  runner: JobRunner;
  jobs: ReadonlyMap<string, AnyJob>;
  auth: Authenticator;
  /** The token in the lock file (embedded database only). */
  localToken?: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function admit(deps: JobRouteDeps) {
  const admins = requireRole(deps.auth, ['admin']);
  // A job that names its roles (audit:verify: auditors too) admits those; any other, admins.
  const byJob = new Map([...deps.jobs].filter(([, j]) => j.roles).map(([name, j]) => [name, requireRole(deps.auth, [...j.roles!])]));
  const local = deps.localToken ? digest(deps.localToken) : undefined;
  return async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization?.trim() ?? '');
    if (local && m && timingSafeEqual(digest(m[1]!), local)) {
      req.identity = {
        oid: 'local-cli',
        name: 'local CLI (lock file token)',
        roles: new Set(['admin']),
        approverViews: '*',
        readViews: '*',
        via: 'static',
      };
      return;
    }
    await (byJob.get(req.params.name) ?? admins)(req, reply);
  };
}

export function registerJobRoutes(app: FastifyInstance, deps: JobRouteDeps): void {
  app.post<{ Params: { name: string }; Headers: { 'x-safelist-actor'?: string } }>(
    '/api/v1/jobs/:name',
    { preHandler: admit(deps) },
    async (req, reply) => {
      const job = deps.jobs.get(req.params.name);
      if (!job) throw errors.notFound(`no job "${req.params.name}"; jobs: ${[...deps.jobs.keys()].join(', ')}`);
      const params = parse(job.params, req.body ?? {}, 'job parameters');
      // The local CLI names its user (the OS account that could read the lock file) for the audit trail.
      const who = req.identity!;
      const cliUser = /^[\w.@-]{1,64}$/.test(req.headers['x-safelist-actor'] ?? '') ? req.headers['x-safelist-actor'] : undefined;
      const actor = who.oid === 'local-cli' ? `cli:${cliUser ?? 'unknown'}` : who.oid;
      const out = new PassThrough();
      const write = (line: JobStreamLine) => {
        // The caller may have gone; the job still runs to its end and is recorded.
        if (!out.destroyed && !out.writableEnded) out.write(`${JSON.stringify(line)}\n`);
      };
      void deps.runner
        .run(job, params, { actor, onEvent: (name, event) => write({ job: name, event }) })
        .then((outcome) => write({ job: job.name, outcome }))
        .finally(() => out.end());
      return reply.type('application/x-ndjson').header('cache-control', 'no-store').send(out);
    },
  );
}
