// The download log's jobs: pruning rows past downloads.retention (on its schedule, one replica
// at a time), and the incident report (`safelist incident`), a job so that a CLI beside a server
// that owns the embedded database hands it over like any other; for a package version or an
// image reference. Bodies live in audit/ and gate/.
import { z } from 'zod';
import { durationMs } from '../config/schema.js';
import { pruneDownloads } from '../audit/downloads.js';
import { ecosystems } from '../ecosystems/index.js';
import { imageIndexOf } from '../ecosystems/types.js';
import { imageIncidentReport, type ImageIncidentReport, type MirroredImages } from '../gate/image-incidents.js';
import { incidentReport, type IncidentReport } from '../gate/incidents.js';
import type { Policy } from '../policy/decide.js';
import type { Queryable } from '../state/db.js';
import type { Job } from './types.js';

const none = z.strictObject({});

/** Deletes download log rows older than downloads.retention. */
export const downloadsPruneJob: Job<z.infer<typeof none>, { pruned: number; before: string }> = {
  name: 'downloads:prune',
  lock: 'downloads:prune',
  schedule: (config) => config.downloads.pruneSchedule,
  params: none,
  async run({ deps: { config, runtime } }) {
    const before = new Date(Date.now() - durationMs(config.downloads.retention));
    return { pruned: await pruneDownloads(runtime.db, before), before: before.toISOString() };
  },
  audit: (r) => (r.pruned ? { action: 'downloads.pruned', subject: 'download_log', detail: r } : undefined),
};

/** The ecosystems an incident can be about: those whose packages are downloaded as files and found in images. */
const incidentEcosystems = [...ecosystems.values()].filter((m) => m.contents).map((m) => m.id) as [string, ...string[]];

export const incidentParams = z
  .strictObject({
    ecosystem: z.enum(incidentEcosystems, { error: `ecosystem must be ${incidentEcosystems.join(' or ')}` }).default(incidentEcosystems[0]),
    name: z.string().min(1, 'name is required').max(200).optional(),
    version: z.string().min(1, 'version is required').max(200).optional(),
    /** An image instead: repo@sha256:… or repo:tag (who pulled it through /v2, and the gate's verdicts). */
    image: z.string().min(1).max(500).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.image !== undefined && (p.name !== undefined || p.version !== undefined))
      ctx.addIssue({ code: 'custom', message: 'give either image or name and version, not both' });
    else if (p.image === undefined && (p.name === undefined || p.version === undefined))
      ctx.addIssue({ code: 'custom', message: 'name and version are required (or image: repo@sha256:… or repo:tag)' });
  });

export type IncidentParams = z.infer<typeof incidentParams>;

/** The package report, or the image report when the params name an image. */
export function incidentOf(
  q: Queryable,
  policy: Policy,
  p: IncidentParams,
  mirror?: MirroredImages,
): Promise<IncidentReport | ImageIncidentReport> {
  if (p.image !== undefined) return imageIncidentReport(q, p.image, mirror);
  return incidentReport(q, policy, p.ecosystem, p.name!, p.version!);
}

/** Who downloaded one package version (or pulled one image), and which images contain it / the gate's verdicts. Read-only. */
export const incidentReportJob: Job<IncidentParams, IncidentReport | ImageIncidentReport> = {
  name: 'incident:report',
  lock: 'incident:report',
  params: incidentParams,
  run: async ({ params, deps: { runtime } }) => incidentOf(runtime.db, runtime.policies.policy, params, imageIndexOf(runtime.ecosystems)),
};
