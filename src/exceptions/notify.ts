// What the exceptions workflow tells its webhooks: an event's body as Safelist's own JSON or as
// an Adaptive Card message (Teams / Power Automate workflow webhooks). Delivery (signing,
// back-off, redaction of webhook URLs) is notify/'s; this file only renders and hands over, and
// must never block or fail the workflow step that raised the event.
import type { Notifier, WebhookFormat } from '../notify/notifier.js';
import type { ExceptionRecord } from './service.js';

export type ExceptionEvent = 'exception.requested' | 'exception.approved' | 'exception.rejected' | 'exception.revoked' | 'exception.expiring' | 'exception.expired';

/** Sends an exception event to every configured webhook that wants it, in each one's format; returns at once. */
export function notifyException(notifier: Pick<Notifier, 'broadcast'>, event: ExceptionEvent, e: ExceptionRecord, publicUrl?: string): void {
  notifier.broadcast(event, e.id, (format: WebhookFormat) => (format === 'teams' ? teamsBody(event, e, publicUrl) : jsonBody(event, e, publicUrl)));
}

const TITLES: Record<ExceptionEvent, string> = {
  'exception.requested': 'Exception requested',
  'exception.approved': 'Exception approved',
  'exception.rejected': 'Exception rejected',
  'exception.revoked': 'Exception revoked',
  'exception.expiring': 'Exception expiring soon',
  'exception.expired': 'Exception expired',
};

/** The console page of a request (/ui/requests/EXC-…): where a person reviews and decides it. */
export function reviewUrl(publicUrl: string, e: ExceptionRecord): string {
  return `${publicUrl.replace(/\/$/, '')}/ui/requests/${e.id}`;
}

export function jsonBody(event: ExceptionEvent, e: ExceptionRecord, publicUrl?: string): Record<string, unknown> {
  return {
    event,
    at: new Date().toISOString(),
    exception: {
      id: e.id, ecosystem: e.ecosystem, name: e.name, versions: e.versions || '*', view: e.view, state: e.state, reason: e.reason,
      requestedBy: e.requestedByName, decidedBy: e.decidedByName, decisionNote: e.decisionNote, expiresAt: e.expiresAt,
    },
    ...(publicUrl ? { url: `${publicUrl.replace(/\/$/, '')}/api/v1/exceptions/${e.id}`, review: reviewUrl(publicUrl, e) } : {}),
  };
}

/** An Adaptive Card in the message envelope that Teams incoming/workflow webhooks accept. */
export function teamsBody(event: ExceptionEvent, e: ExceptionRecord, publicUrl?: string): Record<string, unknown> {
  const facts = [
    { title: 'Package', value: `${e.ecosystem} ${e.name} ${e.versions || '(any version)'}` },
    { title: 'Workspace', value: e.view === '*' ? 'all (global)' : e.view },
    { title: 'Requested by', value: e.requestedByName },
    { title: 'Reason', value: e.reason },
    ...(e.decidedByName ? [{ title: 'Decided by', value: `${e.decidedByName}${e.decisionNote ? `: ${e.decisionNote}` : ''}` }] : []),
    { title: 'Expires', value: e.expiresAt.slice(0, 10) },
  ];
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', size: 'Medium', weight: 'Bolder', text: `${TITLES[event]}: ${e.id}` },
            { type: 'FactSet', facts },
          ],
          ...(publicUrl ? { actions: [{ type: 'Action.OpenUrl', title: 'Review in Safelist', url: reviewUrl(publicUrl, e) }] } : {}),
        },
      },
    ],
  };
}

export const MALWARE_EVENT = 'advisory.malware-blocked';

/** The body of a malware-blocked notification, in the hook's format (JSON, or an Adaptive Card for Teams). */
export function malwareBody(format: 'json' | 'teams', ids: readonly string[], packages: readonly string[]): Record<string, unknown> {
  if (format === 'json') return { event: MALWARE_EVENT, at: new Date().toISOString(), advisories: ids, packages };
  const text = `Malicious packages blocked in every view: ${packages.join(', ')} (${ids.join(', ')})`;
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', wrap: true, text }] } }],
  };
}
