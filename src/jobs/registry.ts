// The jobs by name: what the API accepts for hand-off (POST /api/v1/jobs/{name}) and what the
// server schedules. Adding a job is one line here.
import { acrImportJob } from './acr-import.js';
import { importCondaJob, importPypiJob } from './import.js';
import { advisoryImportJob, auditAnchorJob, exceptionExpiryJob, gateReconcileJob } from './maintenance.js';
import { publishJob } from './publish.js';
import { downloadsPruneJob, incidentReportJob } from './downloads.js';
import { syncCondaJob, syncJob, syncNpmJob, syncOciJob, syncPypiJob } from './sync.js';
import type { AnyJob } from './types.js';

export const jobs: ReadonlyMap<string, AnyJob> = new Map<string, AnyJob>(
  [
    syncJob,
    syncPypiJob,
    syncCondaJob,
    syncOciJob,
    syncNpmJob, // npm (issue 12)
    importPypiJob,
    importCondaJob,
    acrImportJob,
    publishJob,
    auditAnchorJob,
    exceptionExpiryJob,
    advisoryImportJob,
    gateReconcileJob,
    downloadsPruneJob,
    incidentReportJob,
  ].map((j) => [j.name, j]),
);
