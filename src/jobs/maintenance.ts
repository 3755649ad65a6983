// The housekeeping jobs the server runs on their schedules, by one replica at a time: audit
// anchoring and verification, exception expiry, advisory import (malware blocks included) and the gate's
// reconcile. Their bodies live in audit/, exceptions/ and gate/; these wrap them so the runner
// locks, counts and records them.
import { z } from 'zod';
import { durationMs, type Config } from '../config/schema.js';
import type { ImportProblem } from '../exceptions/advisories.js';
import { MALWARE_EVENT, malwareBody } from '../exceptions/notify.js';
import type { Rule } from '../policy/types.js';
import { reconcileRegistries, type ReconcileReport } from '../gate/reconcile.js';
import type { Anchor, VerifyProblem } from '../audit/log.js';
import { rejudgeMalwareImages } from '../gate/incidents.js';
import { GateStore } from '../gate/store.js';
import type { ImageRef } from '../gate/types.js';
import type { Job, JobDeps } from './types.js';

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

/** A verification's result: the counts, and each break as the runner's run record keeps failures (the first 20). */
export interface AuditVerifyResult {
  ok: boolean;
  records: number;
  anchors: number;
  /** The last record checked (0: an empty trail). */
  head: number;
  headHash: string | null;
  /** Every break, in the order found: what (record N, kind) and why. */
  failed: Array<{ name: string; seq: number; kind: VerifyProblem['kind']; error: string }>;
}

/**
 * Recomputes the whole audit chain and checks it against every anchor (audit/log.ts verify),
 * streaming how many records it has checked. One run at a time across replicas (its lock); the
 * console's verify page and `safelist audit verify` read its result, so no request recomputes
 * the chain. Auditors start it through the API as well as admins. A chain found broken is a
 * finished run with its breaks (as a sync with failed files), never a job failure.
 */
export const auditVerifyJob: Job<z.infer<typeof none>, AuditVerifyResult> = {
  name: 'audit:verify',
  lock: 'audit:verify',
  schedule: (config) => config.audit.verifySchedule,
  roles: ['auditor', 'admin'],
  params: none,
  async run({ deps, emit }) {
    const r = await deps.runtime.audit.verify((checked, total) => emit({ type: 'checked', index: checked, total }));
    return {
      ok: r.ok,
      records: r.records,
      anchors: r.anchors,
      head: r.head?.seq ?? 0,
      headHash: r.head?.hash ?? null,
      failed: r.problems.map((p) => ({ name: `record ${p.seq} (${p.kind})`, seq: p.seq, kind: p.kind, error: p.message })),
    };
  },
  audit: (r) => ({
    action: 'audit.verified',
    subject: 'audit_log',
    detail: {
      ok: r.ok,
      records: r.records,
      anchors: r.anchors,
      head: r.head,
      problems: r.failed.length,
      ...(r.failed[0] ? { first: { seq: r.failed[0].seq, kind: r.failed[0].kind, message: r.failed[0].error } } : {}),
    },
  }),
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

type AdvisorySourceReport = {
  source: string;
  imported?: number;
  skipped?: number;
  problems?: ImportProblem[];
  malware?: string[];
  error?: string;
};

/**
 * OSV advisories, from every configured source; one source failing does not stop the others.
 * MAL- records that are new or changed block at once: this replica reloads its policy (the
 * others were notified at commit), and the run is audited (advisory.malware-blocked) and notified.
 */
export const advisoryImportJob: Job<
  z.infer<typeof none>,
  { sources: AdvisorySourceReport[]; malwareBlocked: string[]; rejudged: ImageRef[] }
> = {
  name: 'advisories:import',
  lock: 'advisories:import',
  schedule: (config) => (config.advisories.sources.length ? config.advisories.schedule : undefined),
  params: none,
  async run({ deps, actor, emit }) {
    const { config, runtime, notifier } = deps;
    const sources: AdvisorySourceReport[] = [];
    let reload = false;
    for (const source of config.advisories.sources) {
      try {
        const { malwareChanged, ...r } = await runtime.advisories.importFrom(source);
        reload ||= malwareChanged;
        for (const p of r.problems) emit({ type: 'warning', message: `advisory file ${p.path} skipped: ${p.message}` });
        sources.push({ source, ...r });
      } catch (err) {
        emit({ type: 'warning', message: `advisory import from ${source} failed: ${(err as Error).message}` });
        sources.push({ source, error: (err as Error).message });
      }
    }
    if (reload) {
      // Policy files with problems keep their last good rules, but the malware rules still apply.
      await runtime.policies
        .reload()
        .catch((err: unknown) => emit({ type: 'warning', message: `policy reload after the import: ${(err as Error).message}` }));
    }
    const malwareBlocked = [...new Set(sources.flatMap((s) => s.malware ?? []))];
    if (malwareBlocked.length)
      notifyMalware(config, notifier, malwareBlocked, malwarePackages(runtime.policies.policy.rulesOfKind('malware'), malwareBlocked));
    const rejudged = malwareBlocked.length ? await rejudge(deps, actor) : [];
    for (const img of rejudged) emit({ type: 'rejudge', image: `${img.registry}/${img.repository}@${img.digest}` });
    return { sources, malwareBlocked, rejudged };
  },
  audit: (r) => [
    ...(r.sources.length ? [{ action: 'advisories.imported', subject: 'osv', detail: { sources: r.sources } }] : []),
    ...(r.malwareBlocked.length ? [{ action: MALWARE_EVENT, subject: r.malwareBlocked.join(','), detail: { ids: r.malwareBlocked } }] : []),
  ],
};

/**
 * Passed images that contain a package now blocked as malware are judged again (the worker
 * fails, purges and notifies). Run from a CLI the store is opened here; a server's worker finds
 * the requeued images on its next pass (its own kick when the job runs in the server).
 */
async function rejudge(deps: JobDeps, actor: string): Promise<ImageRef[]> {
  const store = deps.gate?.store ?? new GateStore(deps.runtime.db, durationMs(deps.config.gate.scanDeadline));
  const images = await rejudgeMalwareImages(deps.runtime.db, store, deps.runtime.policies.policy, actor);
  if (images.length) deps.gate?.kick();
  return images;
}

/** "ecosystem name (versions)" of the malware rules of the given advisories, for people. */
function malwarePackages(rules: readonly Rule[], ids: readonly string[]): string[] {
  return rules.filter((r) => ids.includes(r.id ?? '')).map((r) => `${r.ecosystem} ${r.name} (${r.matcher.text})`);
}

function notifyMalware(config: Config, notifier: JobDeps['notifier'], ids: string[], packages: string[]): void {
  for (const hook of config.notifications.webhooks) {
    if (hook.events && !hook.events.includes(MALWARE_EVENT)) continue;
    notifier?.post(hook, MALWARE_EVENT, ids.join(','), malwareBody(hook.format, ids, packages));
  }
}

/** A dropped webhook (ACR never retries) still gets a verdict: list the registries, queue what is new. */
export const gateReconcileJob: Job<z.infer<typeof none>, ReconcileReport[]> = {
  name: 'gate:reconcile',
  lock: 'gate:reconcile',
  schedule: (config) =>
    config.gate.reconcileSchedule && (config.gate.registries?.length ?? 0) > 0 ? config.gate.reconcileSchedule : undefined,
  params: none,
  async run({ deps: { gate, log } }) {
    if (!gate) return [];
    const reports = await reconcileRegistries(gate.registries, gate.store);
    for (const r of reports) {
      if (r.queued.length || r.errors.length)
        log.info({ registry: r.registry, queued: r.queued.length, errors: r.errors }, 'gate: reconcile');
    }
    if (reports.some((r) => r.queued.length)) gate.kick();
    return reports;
  },
  audit: (reports) => {
    const queued = reports.reduce((n, r) => n + r.queued.length, 0);
    const errors = reports.flatMap((r) => r.errors);
    return queued || errors.length
      ? { action: 'gate.reconciled', subject: reports.map((r) => r.registry).join(','), detail: { queued, errors } }
      : undefined;
  },
};
