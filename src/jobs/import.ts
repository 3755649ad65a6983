// The import jobs: packages from a local folder into storage and the catalog, one per registered
// ecosystem with an importer (`import:<id>`). The folder is read by the process running the job —
// with a server holding the embedded database, that is the server, on the same machine (the CLI
// sends an absolute path). It never names an ecosystem: the importers are the modules' own.
import { ecosystems } from '../ecosystems/index.js';
import type { EcosystemModule, ImportParams, ImportReportBase, ImportSpec } from '../ecosystems/types.js';
import type { Job } from './types.js';

function ecosystemImportJob(m: EcosystemModule, spec: ImportSpec): Job<ImportParams, ImportReportBase> {
  return {
    name: `import:${m.id}`,
    lock: `import:${m.id}`,
    params: spec.params,
    run({ params, deps: { config, runtime: rt }, emit, signal }) {
      const open = rt.ecosystems.get(m.id);
      if (!open?.import) throw new Error(`the ${m.label} ecosystem has no importer in this runtime`);
      return open.import(params, { config, policy: rt.policies.policy, emit: (e) => emit(e), signal });
    },
    audit: (r, p) => ({ action: 'import.finished', subject: m.id, detail: spec.auditDetail(r, p) }),
  };
}

/** Every ecosystem's import job, by ecosystem id, in registry order. */
export const importJobs: ReadonlyMap<string, Job<ImportParams, ImportReportBase>> = new Map(
  [...ecosystems.values()].flatMap((m) => (m.importer ? [[m.id, ecosystemImportJob(m, m.importer)] as const] : [])),
);
