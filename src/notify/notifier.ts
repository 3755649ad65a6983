// Outgoing notifications, for every component that tells people what happened (the exceptions
// workflow, the container gate): each configured webhook gets the events it asked for, signed
// when it has a secret. Delivery runs in the background with exponential back-off; a webhook
// that is down or slow never blocks, delays or fails a request, approval, verdict or expiry. A
// webhook URL is never logged whole: Teams and Power Automate URLs carry their credential in the
// query (sig=), so logs name its origin and path only, and error messages are scrubbed the same
// way. What a notification says is its sender's business (exceptions/notify.ts renders its
// bodies); this module must never import the components that use it.
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { durationMs } from '../config/schema.js';

export type WebhookFormat = Config['notifications']['webhooks'][number]['format'];

export interface Delivery {
  /** The whole URL, credential included: log loggableUrl(url), never this. */
  url: string;
  /** The event's name (exception.approved, gate.failed …). */
  event: string;
  id: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

/** A webhook URL as it may be logged: origin and path (no query, no user info, no fragment). */
export function loggableUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(an unparsable URL)';
  }
}

/** A delivery error in words (fetch's own message is only "fetch failed"), without the URL's secrets. */
export function deliveryError(err: unknown, url: string): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  const cause = e.cause?.message ?? e.cause?.code;
  let text = cause && !String(e.message).includes(cause) ? `${e.message}: ${cause}` : String(e.message);
  // The whole URL in any spelling becomes its loggable form; then each part that may hold a credential goes.
  let whole = [url];
  let secrets: string[] = [];
  try {
    const u = new URL(url);
    whole = [url, u.href];
    secrets = [u.search, safeDecode(u.search), u.username, u.password];
  } catch {
    // Not a URL: only its whole spelling can be recognised.
  }
  for (const w of whole) text = text.split(w).join(loggableUrl(url));
  for (const x of secrets.filter((p) => p.length > 1)) text = text.split(x).join('[redacted]');
  return text;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class Notifier {
  private readonly pending = new Set<Promise<Delivery>>();
  private stopped = false;

  constructor(
    private readonly config: Pick<Config, 'notifications'>,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
    private readonly onDelivery: (d: Delivery) => void = () => undefined,
  ) {}

  /**
   * Queues the event for every configured webhook (notifications.webhooks) that wants it, with
   * the body `render` gives for the webhook's format; returns at once.
   */
  broadcast(event: string, id: string, render: (format: WebhookFormat) => unknown): void {
    for (const hook of this.config.notifications.webhooks) {
      if (hook.events && !(hook.events as readonly string[]).includes(event)) continue;
      this.post(hook, event, id, render(hook.format));
    }
  }

  /**
   * Queues a JSON body for one webhook (the gate's own hooks, and each of broadcast's), signed
   * and retried; returns at once.
   */
  post(hook: { url: string; secret?: string | undefined }, event: string, id: string, body: unknown): void {
    const p = this.deliver(hook.url, JSON.stringify(body), hook.secret, event, id).then((d) => {
      this.onDelivery(d);
      if (!d.ok)
        this.log.warn(
          { webhook: loggableUrl(d.url), event, id, attempts: d.attempts, error: d.error, status: d.status },
          'notification not delivered',
        );
      return d;
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Waits for deliveries in flight (tests, shutdown); stops retrying after `ms`. */
  async drain(ms = 5000): Promise<void> {
    const timeout = new Promise<void>((r) => setTimeout(r, ms).unref());
    await Promise.race([Promise.allSettled([...this.pending]).then(() => undefined), timeout]);
  }

  stop(): void {
    this.stopped = true;
  }

  private async deliver(url: string, body: string, secret: string | undefined, event: string, id: string): Promise<Delivery> {
    const attempts = this.config.notifications.attempts;
    const base = durationMs(this.config.notifications.retryBase);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'safelist-notifier',
      'x-safelist-event': event,
    };
    if (secret) headers['x-safelist-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    let last: Pick<Delivery, 'status' | 'error'> = {};
    for (let n = 1; n <= attempts; n++) {
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000), redirect: 'error' });
        await res.arrayBuffer().catch(() => undefined); // drain the body so the connection is reused; a failed drain changes nothing
        if (res.ok) return { url, event, id, ok: true, attempts: n, status: res.status };
        last = { status: res.status, error: `answered ${res.status}` };
        // A 4xx other than 408/429 will not get better by retrying.
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
          return { url, event, id, ok: false, attempts: n, ...last };
      } catch (err) {
        last = { error: deliveryError(err, url) };
      }
      if (n < attempts && !this.stopped) await new Promise((r) => setTimeout(r, base * 2 ** (n - 1)).unref());
      if (this.stopped) return { url, event, id, ok: false, attempts: n, ...last };
    }
    return { url, event, id, ok: false, attempts, ...last };
  }
}
