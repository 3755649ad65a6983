// Incidents for images: for one image reference (repo@sha256:… or repo:tag), every view and
// identity that pulled it through /v2 (the download log: manifest pulls carry the manifest's
// digest), when, and the gate's verdict history for its digest (the audit trail's gate.*
// records) with the gate's current record of it. A tag is resolved to every digest it named:
// the mirror's current one, those pulled under that tag, and those the registry's webhooks
// reported for it. An index's platform manifests count as the image. Read-only.
import { imagePullsOf, type ImagePull } from '../audit/downloads.js';
import { errors } from '../errors.js';
import type { Queryable } from '../state/db.js';
import type { ImageIndex } from '../ecosystems/types.js';

export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Path components as the distribution spec has them, optionally after a registry host[:port]. */
const REPOSITORY = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** repo@sha256:<64 hex> or repo:tag, or a 400 that says which form is expected. */
export function parseImageReference(ref: string): ImageReference {
  const at = ref.lastIndexOf('@');
  const colon = ref.lastIndexOf(':');
  const parsed =
    at > 0
      ? { repository: ref.slice(0, at), digest: ref.slice(at + 1) }
      : colon > ref.lastIndexOf('/')
        ? { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) }
        : undefined;
  if (
    !parsed ||
    !REPOSITORY.test(parsed.repository) ||
    (parsed.digest !== undefined && !DIGEST.test(parsed.digest)) ||
    (parsed.tag !== undefined && !TAG.test(parsed.tag))
  )
    throw errors.badRequest(
      `"${ref}" is not an image reference: give REPOSITORY@sha256:<64 hex digits> or REPOSITORY:TAG, e.g. mcr/azureml/app:1.0.0`,
    );
  return parsed;
}

/** What the mirror knows of an image (the image ecosystem's catalog), when the caller has it. */
export type MirroredImages = ImageIndex;

export interface VerdictEvent {
  at: string;
  action: string;
  subject: string;
  outcome?: string;
  reasons?: string[];
}

export interface GateRecord {
  registry: string;
  repository: string;
  state: string;
  reason: string | null;
  purged: string | null;
  blocked: string | null;
}

export interface ImageIncidentReport {
  image: string;
  repository: string;
  /** Every manifest digest the reference names (a tag: each it pointed at; an index: its platforms too). */
  digests: string[];
  pulls: ImagePull[];
  verdicts: VerdictEvent[];
  gate: GateRecord[];
}

async function digestsOf(q: Queryable, ref: ImageReference, mirror: MirroredImages | undefined): Promise<string[]> {
  const found = new Set<string>();
  if (ref.digest) found.add(ref.digest);
  if (ref.tag) {
    const current = mirror?.tagDigest(ref.repository, ref.tag);
    if (current) found.add(current);
    const rows = await q.query<{ digest: string }>(
      `SELECT DISTINCT 'sha256:' || sha256 AS digest FROM download_log WHERE ecosystem = 'oci' AND name = $1 AND version = $2
       UNION SELECT digest FROM gate_tags WHERE tag = $2 AND (repository = $1 OR registry || '/' || repository = $1)`,
      [ref.repository, ref.tag],
    );
    for (const r of rows) found.add(r.digest);
  }
  // An index stands for its platform manifests: a pull of one of them is a pull of the image.
  for (const d of [...found])
    for (const r of mirror?.image(ref.repository)?.refs.get(d) ?? []) if (r.kind === 'manifest') found.add(r.child);
  return [...found].sort();
}

/** The gate's audit records (gate.received, gate.verdict, gate.purged, …) of these digests, oldest first. */
async function verdictHistory(q: Queryable, digests: string[]): Promise<VerdictEvent[]> {
  if (!digests.length) return [];
  const rows = await q.query<{ at: Date | string; action: string; subject: string; detail: Record<string, unknown> | string }>(
    `SELECT at, action, subject, detail FROM audit_log
      WHERE action LIKE 'gate.%' AND substring(subject from '(sha256:[0-9a-f]{64})$') = ANY($1)
      ORDER BY seq`,
    [digests],
  );
  return rows.map((r) => {
    const detail = (typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail) as { outcome?: unknown; reasons?: unknown };
    return {
      at: new Date(r.at).toISOString(),
      action: r.action,
      subject: r.subject,
      ...(typeof detail.outcome === 'string' ? { outcome: detail.outcome } : {}),
      ...(Array.isArray(detail.reasons) ? { reasons: detail.reasons.map(String) } : {}),
    };
  });
}

export async function imageIncidentReport(q: Queryable, image: string, mirror?: MirroredImages): Promise<ImageIncidentReport> {
  const ref = parseImageReference(image);
  const digests = await digestsOf(q, ref, mirror);
  const gate = digests.length
    ? await q.query<GateRecord>(
        'SELECT registry, repository, state, reason, purged, blocked FROM gate_images WHERE digest = ANY($1) ORDER BY registry, repository',
        [digests],
      )
    : [];
  return {
    image,
    repository: ref.repository,
    digests,
    pulls: await imagePullsOf(
      q,
      digests.map((d) => d.slice('sha256:'.length)),
    ),
    verdicts: await verdictHistory(q, digests),
    gate,
  };
}
