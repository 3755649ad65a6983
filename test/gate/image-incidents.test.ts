// Image incidents on both databases, from rows the real writers put there (the download log's
// batch insert, the audit trail's append, the gate's tag table): a tag stands for every digest it
// named (pulled under it, reported by the registry's webhooks), pulls of any of them are grouped
// by view, identity and repository, the gate's records of those digests come in order, and a
// reference in neither form is a 400 that shows both.
import { afterEach, describe, expect, it } from 'vitest';
import { insertDownloads, type DownloadRecord } from '../../src/audit/downloads.js';
import { appendAudit } from '../../src/audit/log.js';
import { SafelistError } from '../../src/errors.js';
import { imageIncidentReport, parseImageReference } from '../../src/gate/image-incidents.js';
import type { Db } from '../../src/state/db.js';
import { databaseConfig, DB_MODES } from '../support/databases.js';
import { openStateDb } from '../../src/ecosystems/index.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const LAYER = `sha256:${'c'.repeat(64)}`;
const OTHER = `sha256:${'d'.repeat(64)}`;

const pull = (over: Partial<DownloadRecord>): DownloadRecord => ({
  view: 'default',
  ecosystem: 'oci',
  name: 'mcr/team/app',
  version: '1.0',
  sha256: A.slice(7),
  identity: null,
  client: '10.0.0.7',
  at: new Date('2026-11-30T10:00:00Z'),
  ...over,
});

describe('image reference forms', () => {
  it('reads repo@digest and repo:tag (a registry host with a port included), and refuses anything else with both forms', () => {
    expect(parseImageReference(`mcr/team/app@${A}`)).toEqual({ repository: 'mcr/team/app', digest: A });
    expect(parseImageReference('myacr.azurecr.io:5000/team/app:1.0')).toEqual({ repository: 'myacr.azurecr.io:5000/team/app', tag: '1.0' });
    for (const bad of ['mcr/team/app', 'mcr/team/app@sha256:abc', 'Mcr/Team:1', 'mcr/team/app:', 'app==1.0']) {
      let err: unknown;
      try {
        parseImageReference(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(SafelistError);
      expect((err as SafelistError).status).toBe(400);
      expect((err as Error).message).toContain('REPOSITORY@sha256:<64 hex digits> or REPOSITORY:TAG');
    }
  });
});

describe.each(DB_MODES)('image incidents on %s', (mode) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function open(): Promise<Db> {
    const cfg = await databaseConfig(mode);
    const db = await openStateDb(cfg.database);
    cleanups.push(cfg.cleanup, () => db.close());
    return db;
  }

  it('resolves a tag to every digest it named, groups the pulls of any of them, and lists the gate records in order', async () => {
    const db = await open();
    await insertDownloads(db, [
      // Pulled under the tag when it pointed at A, then A's layer (a blob: not a pull of the image).
      pull({ at: new Date('2026-11-30T10:00:00Z') }),
      pull({ version: LAYER, sha256: LAYER.slice(7), at: new Date('2026-11-30T10:00:01Z') }),
      // B, which the registry's webhook reported for the tag, pulled by digest by Bob in team-a.
      pull({
        view: 'team-a',
        version: B,
        sha256: B.slice(7),
        identity: { oid: 'oid-bob', name: 'Bob' },
        at: new Date('2026-11-30T11:00:00Z'),
      }),
      pull({
        view: 'team-a',
        version: B,
        sha256: B.slice(7),
        identity: { oid: 'oid-bob', name: 'Bob' },
        at: new Date('2026-11-30T12:00:00Z'),
      }),
      // Another image.
      pull({ name: 'mcr/team/other', version: OTHER, sha256: OTHER.slice(7) }),
    ]);
    await db.query("INSERT INTO gate_tags (registry, repository, tag, digest) VALUES ('local', 'mcr/team/app', '1.0', $1)", [B]);
    await appendAudit(db, { actor: 'system', action: 'gate.received', subject: `local/mcr/team/app@${B}`, detail: {} });
    await appendAudit(db, { actor: 'ci', action: 'gate.report-received', subject: B, detail: { format: 'trivy' } });
    await appendAudit(db, {
      actor: 'system',
      action: 'gate.verdict',
      subject: `local/mcr/team/app@${B}`,
      detail: { outcome: 'fail', reasons: ['CVE-1 critical'] },
    });
    await appendAudit(db, {
      actor: 'system',
      action: 'gate.verdict',
      subject: `local/mcr/team/other@${OTHER}`,
      detail: { outcome: 'pass' },
    });
    await appendAudit(db, { actor: 'alice', action: 'exception.approved', subject: B, detail: {} });

    const r = await imageIncidentReport(db, 'mcr/team/app:1.0');
    expect(r.digests).toEqual([A, B]);
    expect(r.pulls).toEqual([
      {
        view: 'default',
        identity: null,
        repository: 'mcr/team/app',
        first: '2026-11-30T10:00:00.000Z',
        last: '2026-11-30T10:00:00.000Z',
        count: 1,
        references: ['1.0'],
      },
      {
        view: 'team-a',
        identity: { oid: 'oid-bob', name: 'Bob' },
        repository: 'mcr/team/app',
        first: '2026-11-30T11:00:00.000Z',
        last: '2026-11-30T12:00:00.000Z',
        count: 2,
        references: [B],
      },
    ]);
    expect(r.verdicts.map((v) => [v.action, v.subject, v.outcome, v.reasons])).toEqual([
      ['gate.received', `local/mcr/team/app@${B}`, undefined, undefined],
      ['gate.report-received', B, undefined, undefined],
      ['gate.verdict', `local/mcr/team/app@${B}`, 'fail', ['CVE-1 critical']],
    ]);
    expect(r.gate).toEqual([]);

    const byDigest = await imageIncidentReport(db, `mcr/team/app@${A}`);
    expect(byDigest.digests).toEqual([A]);
    expect(byDigest.pulls.map((p) => [p.view, p.count])).toEqual([['default', 1]]);
    expect(byDigest.verdicts).toEqual([]);
    expect((await imageIncidentReport(db, 'mcr/team/app:2.0')).pulls).toEqual([]);
  });
});
