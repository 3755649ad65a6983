// Notifications link into the console: the webhook's JSON body carries a "review" link and the
// Teams card's button opens the request's console page (/ui/requests/EXC-…), both built from
// server.publicUrl; without a public URL there is no link at all (never a guessed host).
import { describe, expect, it } from 'vitest';
import { jsonBody, teamsBody } from '../../src/exceptions/notify.js';
import type { ExceptionRecord } from '../../src/exceptions/service.js';

const RECORD: ExceptionRecord = {
  id: 'EXC-1042',
  ecosystem: 'pypi',
  name: 'torchmetrics',
  versions: '==1.4.0',
  view: 'team-a',
  reason: 'metrics for the forecast model',
  state: 'requested',
  requestedBy: 'oid-rita',
  requestedByName: 'Rita',
  requestedAt: '2026-11-30T10:00:00.000Z',
  expiresAt: '2026-12-30T10:00:00.000Z',
  decidedBy: null,
  decidedByName: null,
  decidedAt: null,
  decisionNote: null,
  triage: {},
  bundle: null,
};

describe('notification links into the console', () => {
  it('puts the review link in the JSON body and on the Teams card', () => {
    expect(jsonBody('exception.requested', RECORD, 'https://safelist.example.com/').review).toBe(
      'https://safelist.example.com/ui/requests/EXC-1042',
    );
    const card = teamsBody('exception.requested', RECORD, 'https://safelist.example.com') as any;
    expect(card.attachments[0].content.actions).toEqual([
      { type: 'Action.OpenUrl', title: 'Review in Safelist', url: 'https://safelist.example.com/ui/requests/EXC-1042' },
    ]);
  });

  it('has no link without a public URL', () => {
    expect(jsonBody('exception.requested', RECORD)).not.toHaveProperty('review');
    expect((teamsBody('exception.requested', RECORD) as any).attachments[0].content).not.toHaveProperty('actions');
  });
});
