// The housekeeping jobs the server runs on their schedules, by one replica at a time: audit
// anchoring, exception expiry, advisory import and the gate's reconcile. Their bodies live in
// audit/, exceptions/ and gate/; these wrap them so the runner locks, counts and records them.
import { z } from 'zod';
import { durationMs } from '../config/schema.js';
import { reconcileRegistries, type ReconcileReport } from '../gate/reconcile.js';
import type { Anchor } from '../audit/log.js';
import type { Job } from './types.js';

const none = z.strictObject({});

/**
 * Anchors the audit chain's head in append-only storage. Writes no audit record of its own:
 * a record after the anchor would be the one record the anchor does not cover.
 */
export const auditAnchorJob: Job<z.infer<typeof none>, { anchor: Anchor | null }> = {
  name: 'audit:anchor',
  lock: 'audit:anchor',
  schedule: (config) => config.audit.anchorSchedule,
  params: none,
  run: async ({ deps }) => ({ anchor: (await deps.runtime.audit.anchor()) ?? null }),
};

/** Warns of exceptions about to end and records those past their end (each is audited by the service). */
export const exceptionExpiryJob: Job<z.infer<typeof none>, { expired: string[]; warned: string[] }> = {
  name: 'exceptions:expiry',
  lock: 'exceptions:expiry',
  schedule: (config) => config.exceptions.expirySchedule,
  params: none,
  async run({ deps: { config, runtime, log } }) {
    const warned = await runtime.exceptions.warnExpiring(durationMs(config.exceptions.warnBefore));
    const expired = await runtime.exceptions.expireDue();
    for (const e of expired) log.info({ exception: e.id }, 'exception expired');
    return { expired: expired.map((e) => e.id), warned: warned.map((e) => e.id) };
  },
};

/** OSV advisories for triage, from every configured source; one source failing does not stop the others. */
export const advisoryImportJob: Job<z.infer<typeof none>, { sources: Array<{ source: string; imported?: number; skipped?: number; error?: string }> }> = {
  name: 'advisories:import',
  lock: 'advisories:import',
  schedule: (config) => (config.advisories.sources.length ? config.advisories.schedule : undefined),
  params: none,
  async run({ deps: { config, runtime }, emit }) {
    const sources = [];
    for (const source of config.advisories.sources) {
      try {
        sources.push({ source, ...(await runtime.advisories.importFrom(source)) });
      } catch (err) {
        emit({ type: 'warning', message: `advisory import from ${source} failed: ${(err as Error).message}` });
        sources.push({ source, error: (err as Error).message });
      }
    }
    return { sources };
  },
  audit: (r) => (r.sources.length ? { action: 'advisories.imported', subject: 'osv', detail: { sources: r.sources } } : undefined),
};

/** A dropped webhook (ACR never retries) still gets a verdict: list the registries, queue what is new. */
export const gateReconcileJob: Job<z.infer<typeof none>, ReconcileReport[]> = {
  name: 'gate:reconcile',
  lock: 'gate:reconcile',
  schedule: (config) => (config.gate.reconcileSchedule && (config.gate.registries?.length ?? 0) > 0 ? config.gate.reconcileSchedule : undefined),
  params: none,
  async run({ deps: { gate, log } }) {
    if (!gate) return [];
    const reports = await reconcileRegistries(gate.registries, gate.store);
    for (const r of reports) {
      if (r.queued.length || r.errors.length) log.info({ registry: r.registry, queued: r.queued.length, errors: r.errors }, 'gate: reconcile');
    }
    if (reports.some((r) => r.queued.length)) gate.kick();
    return reports;
  },
  audit: (reports) => {
    const queued = reports.reduce((n, r) => n + r.queued.length, 0);
    const errors = reports.flatMap((r) => r.errors);
    return queued || errors.length ? { action: 'gate.reconciled', subject: reports.map((r) => r.registry).join(','), detail: { queued, errors } } : undefined;
  },
};
