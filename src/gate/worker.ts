// The gate's asynchronous side: takes due images from the queue, re-reads each manifest by
// digest from its registry (the webhook payload is never trusted), asks the scan providers,
// applies the container policy and acts on the verdict: a failing image is purged by digest,
// the verdict is notified, every step is audited. Fail closed: a provider that is down, slow
// or has no result yet, an unreadable manifest or a broken policy file is never a pass; after
// the deadline the image gets "no verdict" with the reason. A report that arrives while a pass
// is under way is never lost: the store refuses the pass's backoff or verdict (generation) and
// the worker goes round again at once. Each verdict asks for an audit anchor (coalesced).
import type { Logger } from 'pino';
import { durationMs, type GateConfig } from '../config/schema.js';
import { isUpstreamError, UPSTREAM } from '../upstream/types.js';
import type { Notifier } from '../notify/notifier.js';
import { evaluate, loadContainerPolicy } from './policy.js';
import type { GateRegistry } from './registry.js';
import type { GateStore, ImageRow } from './store.js';
import type { Finding, ScanProvider, ScanResult, Verdict } from './types.js';

export interface GateWorkerDeps {
  config: GateConfig;
  store: GateStore;
  registries: GateRegistry[];
  providers: ScanProvider[];
  policyPath: string;
  notifier: Pick<Notifier, 'post'>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  publicUrl?: string | undefined;
  /** Anchors the audit chain soon after each verdict (src/audit/anchor.ts). */
  anchors?: { soon(): void };
}

const BATCH = 50;
const LEASE_MS = 10 * 60_000;

export class GateWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: GateWorkerDeps) {}

  start(): void {
    const every = Math.max(200, Math.min(durationMs(this.deps.config.pollBase), 5_000));
    this.timer = setInterval(() => this.kick(), every);
    this.timer.unref();
    this.kick();
  }

  /** Runs a pass now (after the one in progress, if any). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runUntilIdle().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async runUntilIdle(): Promise<void> {
    do {
      this.again = false;
      try {
        while (!this.stopped && (await this.pass()) === BATCH);
      } catch (err) {
        this.deps.log.error({ err }, 'gate: pass failed');
      }
    } while (this.again && !this.stopped);
  }

  /** One batch: judge every due image it can; resolves with how many it took. */
  async pass(): Promise<number> {
    const due = await this.deps.store.claimDue(BATCH, LEASE_MS);
    if (!due.length) return 0;
    const loaded = await loadContainerPolicy(this.deps.policyPath).catch((err: Error) => ({
      ok: false as const,
      problems: [{ file: this.deps.policyPath, line: 1, message: err.message }],
    }));
    const readable: ImageRow[] = [];
    for (const img of due) {
      const reg = this.deps.registries.find((r) => r.name === img.registry);
      if (!reg) {
        await this.finish(img, [`registry "${img.registry}" is not configured in gate.registries any more`]);
        continue;
      }
      try {
        await reg.client.manifest(img.repository, img.digest);
        readable.push(img);
      } catch (err) {
        if (isUpstreamError(err, UPSTREAM.NOT_FOUND))
          await this.finish(img, [
            `${img.registry} does not have ${img.repository}@${img.digest} (deleted, or the event named a digest that was never pushed)`,
          ]);
        else await this.retry(img, `cannot re-read the manifest from ${img.registry}: ${(err as Error).message}`);
      }
    }
    if (!readable.length) return due.length;
    const answers = await Promise.all(
      this.deps.providers.map(async (p) => {
        try {
          return { p, results: await p.scan(readable) };
        } catch (err) {
          return { p, results: new Map<string, ScanResult>(), error: (err as Error).message };
        }
      }),
    );
    for (const img of readable) {
      const findings: Finding[] = [];
      const waiting: string[] = [];
      let retryAfterMs = 0;
      for (const a of answers) {
        const r: ScanResult = a.results.get(img.digest) ?? { state: 'error', reason: a.error ?? 'no answer for this digest' };
        if (r.state === 'scanned') findings.push(...r.findings);
        else {
          waiting.push(`${a.p.name}: ${r.state === 'pending' ? 'not scanned yet' : 'error'}: ${r.reason}`);
          if (r.state === 'error' && r.retryAfterMs) retryAfterMs = Math.max(retryAfterMs, r.retryAfterMs);
        }
      }
      if (!this.deps.providers.length) waiting.push('no scan provider is configured');
      if (waiting.length) {
        await this.retry(img, waiting.join('; '), retryAfterMs);
        continue;
      }
      if (!loaded.ok) {
        await this.retry(
          img,
          `the container policy has problems: ${loaded.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('; ')}`,
        );
        continue;
      }
      // The fixDeadline clock: first sighting of each fixable finding, kept across images and restarts.
      const verdict = evaluate(loaded.policy, img, await this.deps.store.withFixSeen(findings));
      if (!(await this.record(img, verdict))) continue;
      this.deps.log.info(
        { image: `${img.repository}@${img.digest}`, outcome: verdict.outcome, failures: verdict.failures.length },
        'gate: verdict',
      );
      if (verdict.outcome === 'fail') await this.onFail(verdict);
      else if (verdict.outcome === 'pass') this.notify('gate.passed', verdict, undefined);
      this.deps.anchors?.soon(); // again, for the block and purge records (coalesced with the first)
    }
    return due.length;
  }

  /** Records a verdict; false when a report arrived during the pass (then the image is judged again at once). */
  private async record(img: ImageRow, v: Verdict): Promise<boolean> {
    if (await this.deps.store.decide(v, img)) {
      this.deps.anchors?.soon();
      return true;
    }
    this.again = true;
    return false;
  }

  /** Not decided yet: wait with backoff (or as long as the provider asked), until the deadline. */
  private async retry(img: ImageRow, reason: string, retryAfterMs = 0): Promise<void> {
    if (Date.now() >= img.deadline.getTime())
      return this.finish(img, [`no scan result by the deadline (gate.scanDeadline ${this.deps.config.scanDeadline}): ${reason}`]);
    const backoff = Math.min(
      durationMs(this.deps.config.pollBase) * 2 ** Math.max(0, img.attempts - 1),
      durationMs(this.deps.config.pollMax),
    );
    // A report that came while this pass ran makes the image due now: go round again at once.
    if (await this.deps.store.wait(img, Math.max(backoff, retryAfterMs), reason)) this.again = true;
  }

  /** Final "no verdict": recorded, audited and notified; never a pass. */
  private async finish(img: ImageRow, reasons: string[]): Promise<void> {
    const v: Verdict = {
      outcome: 'no-verdict',
      registry: img.registry,
      repository: img.repository,
      digest: img.digest,
      reportOnly: false,
      failures: [],
      exempted: [],
      reported: [],
      reasons,
      decidedAt: new Date().toISOString(),
    };
    if (await this.record(img, v)) this.notify('gate.no-verdict', v, undefined);
  }

  /**
   * Enforces a failing verdict: block pulls first where the registry can (ACR: readEnabled
   * false, reversible, and possible on a locked image), then purge by digest. Each step is
   * audited; a step that fails is reported in the verdict, the audit trail and the notification.
   */
  private async onFail(v: Verdict): Promise<void> {
    const steps: { block?: { outcome: string; detail?: string }; purge: { outcome: string; detail?: string } } = {
      purge: { outcome: v.reportOnly ? 'report-only' : 'disabled' },
    };
    if (!v.reportOnly && this.deps.config.purge) {
      const reg = this.deps.registries.find((r) => r.name === v.registry)!;
      const subject = { registry: v.registry, repository: v.repository, digest: v.digest };
      if (reg.blocks) {
        try {
          const r = await reg.client.block(v.repository, v.digest);
          if (r === 'blocked') await this.deps.store.recordBlock(v, 'blocked', subject);
          steps.block = { outcome: r };
        } catch (err) {
          const message = (err as Error).message;
          await this.deps.store.recordBlock(v, 'failed', { ...subject, error: message });
          steps.block = { outcome: 'block-failed', detail: message };
          this.deps.log.error({ image: `${v.repository}@${v.digest}`, error: message }, 'gate: block failed');
        }
      }
      try {
        const r = await reg.client.deleteManifest(v.repository, v.digest);
        await this.deps.store.recordPurge(v, 'purged', { ...subject, result: r });
        steps.purge = { outcome: 'purged', detail: r };
      } catch (err) {
        // A locked or undeletable image is reported, never silently kept (blocked, where it could be).
        const message = (err as Error).message;
        await this.deps.store.recordPurge(v, 'failed', {
          ...subject,
          error: message,
          ...(steps.block ? { block: steps.block.outcome } : {}),
        });
        steps.purge = { outcome: 'purge-failed', detail: message };
        this.deps.log.error({ image: `${v.repository}@${v.digest}`, error: message }, 'gate: purge failed');
      }
    }
    this.notify('gate.failed', v, steps.purge, steps.block);
  }

  private notify(
    event: 'gate.failed' | 'gate.passed' | 'gate.no-verdict',
    v: Verdict,
    purge: { outcome: string; detail?: string } | undefined,
    block?: { outcome: string; detail?: string },
  ): void {
    const body = {
      event,
      at: new Date().toISOString(),
      image: { registry: v.registry, repository: v.repository, digest: v.digest },
      outcome: v.outcome,
      reportOnly: v.reportOnly,
      reasons: v.reasons,
      failures: v.failures.map((f) => ({
        id: f.finding.id,
        severity: f.finding.severity,
        package: f.finding.package,
        installedVersion: f.finding.installedVersion,
        fixedVersion: f.finding.fixedVersion ?? null,
        rule: f.rule,
      })),
      ...(block ? { block } : {}),
      ...(purge ? { purge } : {}),
      ...(this.deps.publicUrl ? { url: `${this.deps.publicUrl.replace(/\/$/, '')}/api/v1/gate/verdicts/${v.digest}` } : {}),
    };
    for (const hook of this.deps.config.notify) {
      if (event === 'gate.passed' && !hook.passes) continue;
      this.deps.notifier.post(hook, event, `${v.repository}@${v.digest}`, body);
    }
  }
}
