// The jobs modules declare beyond sync and import (EcosystemModule.jobs, e.g. the ACR import),
// wrapped into the runner's Job shape by looping over the registry: the runner takes each one's
// lock, records and audits it like any other job. Never names an ecosystem or a module's job.
import { errors } from '../errors.js';
import { ecosystems } from '../ecosystems/index.js';
import type { EcosystemModule, ModuleJobSpec } from '../ecosystems/types.js';
import type { Job } from './types.js';

function moduleJob(m: EcosystemModule, spec: ModuleJobSpec): Job<Record<string, unknown>, unknown> {
  return {
    name: spec.name,
    lock: spec.lock,
    params: spec.params,
    ...(spec.unavailable ? { unavailable: spec.unavailable } : {}),
    async run({ params, deps: { config, runtime: rt, azure }, emit, signal }) {
      const why = spec.unavailable?.(config);
      if (why) throw errors.badRequest(why);
      const open = rt.ecosystems.get(m.id);
      if (!open?.runJob) throw new Error(`the ${m.label} ecosystem cannot run ${spec.name} in this runtime`);
      return open.runJob(spec.name, params, {
        config,
        policy: rt.policies.policy,
        emit: (e) => emit(e),
        signal,
        ...(azure ? { azure } : {}),
      });
    },
    ...(spec.audit ? { audit: spec.audit } : {}),
  };
}

/** Every module's own jobs, by name, in registry order. */
export const moduleJobs: ReadonlyMap<string, Job<Record<string, unknown>, unknown>> = new Map(
  [...ecosystems.values()].flatMap((m) => (m.jobs ?? []).map((spec) => [spec.name, moduleJob(m, spec)] as const)),
);

/** The spec of a module job by name (the CLI prints its events and report). */
export const moduleJobSpecs: ReadonlyMap<string, ModuleJobSpec> = new Map(
  [...ecosystems.values()].flatMap((m) => (m.jobs ?? []).map((spec) => [spec.name, spec] as const)),
);
