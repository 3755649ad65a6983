// The jobs by name: what the API accepts for hand-off (POST /api/v1/jobs/{name}) and what the
// server schedules. Adding a job is one line here.
import { importJobs } from './import.js';
import { advisoryImportJob, auditAnchorJob, auditVerifyJob, exceptionExpiryJob, gateReconcileJob } from './maintenance.js';
import { publishJob } from './publish.js';
import { downloadsPruneJob, incidentReportJob } from './downloads.js';
import { moduleJobs } from './module-jobs.js';
import { syncJob, syncJobs } from './sync.js';
import type { AnyJob } from './types.js';

export const jobs: ReadonlyMap<string, AnyJob> = new Map<string, AnyJob>(
  (
    [
      syncJob,
      ...syncJobs.values(),
      ...importJobs.values(),
      ...moduleJobs.values(),
      publishJob,
      auditAnchorJob,
      auditVerifyJob,
      exceptionExpiryJob,
      advisoryImportJob,
      gateReconcileJob,
      downloadsPruneJob,
      incidentReportJob,
    ] as AnyJob[]
  ).map((j) => [j.name, j]),
);
