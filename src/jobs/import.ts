// The import jobs: packages from a local folder into storage and the catalog (import:pypi,
// import:conda). The folder is read by the process running the job — with a server holding
// the embedded database, that is the server, on the same machine (the CLI sends an absolute path).
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { importPypiDir, type ImportReport } from '../ecosystems/pypi/importer.js';
import { importCondaDir, type CondaImportReport } from '../ecosystems/conda/importer.js';
import type { Job } from './types.js';

const dir = z.string().min(1).max(4096).refine(isAbsolute, "an absolute path to a folder on the server's machine");

const pypiParams = z.strictObject({ dir });
export const importPypiJob: Job<z.infer<typeof pypiParams>, ImportReport> = {
  name: 'import:pypi',
  lock: 'import:pypi',
  params: pypiParams,
  run: ({ params, deps: { runtime: rt }, emit }) =>
    importPypiDir(params.dir, { store: rt.store, catalog: rt.pypiCatalog, onProgress: (line) => emit({ type: 'line', line }) }),
  audit: (r, p) => ({
    action: 'import.finished',
    subject: 'pypi',
    detail: { dir: p.dir, imported: r.imported.length, skipped: r.skipped.length, files: r.imported.map((f) => f.filename) },
  }),
};

const condaParams = z.strictObject({ dir, channel: z.string().min(1).max(200).optional() });
export const importCondaJob: Job<z.infer<typeof condaParams>, CondaImportReport & { channel: string }> = {
  name: 'import:conda',
  lock: 'import:conda',
  params: condaParams,
  async run({ params, deps: { config, runtime: rt }, emit }) {
    const channel = rt.conda.channel(params.channel ?? config.conda.channels[0]?.name ?? 'conda-forge').name;
    const r = await importCondaDir(params.dir, {
      store: rt.store,
      catalog: rt.condaCatalog,
      channel,
      onProgress: (line) => emit({ type: 'line', line }),
    });
    return { ...r, channel };
  },
  audit: (r, p) => ({
    action: 'import.finished',
    subject: 'conda',
    detail: {
      dir: p.dir,
      channel: r.channel,
      imported: r.imported.length,
      skipped: r.skipped.length,
      files: r.imported.map((f) => f.filename),
    },
  }),
};
