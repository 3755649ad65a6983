// Wires the download log (audit/downloads.ts) to the file routes: the onServed hooks of
// /pypi, /conda and /v2 turn each served file into a record, and the dropped-record counter is
// exported in /metrics. The hooks only append to the log's buffer: never a wait on the read path.
import { Counter } from 'prom-client';
import { durationMs, type Config } from '../config/schema.js';
import { DownloadLog } from '../audit/downloads.js';
import type { Db } from '../state/db.js';
import type { AppDeps } from './app.js';
import type { Metrics } from './metrics.js';
import type { ServedFile } from './blob-response.js';

export interface DownloadLogging {
  log: DownloadLog;
  hooks: Required<Pick<AppDeps, 'onServed' | 'onCondaServed' | 'onOciServed' | 'onNpmServed'>>; // onNpmServed: npm (issue 12)
}

export function openDownloadLog(
  config: Config,
  db: Db,
  metrics: Metrics,
  logger: { error(obj: object, msg: string): void },
  extra: Pick<AppDeps, 'onServed' | 'onCondaServed'> = {},
): DownloadLogging {
  const dropped = new Counter({
    name: 'safelist_download_log_dropped_total',
    help: 'Download log records lost: the buffer was full (overflow) or a batch could not be written (write-failed)',
    labelNames: ['reason'],
    registers: [metrics.registry],
  });
  const log = new DownloadLog(db, {
    bufferSize: config.downloads.bufferSize,
    batchSize: config.downloads.batchSize,
    flushIntervalMs: durationMs(config.downloads.flushInterval),
    onDropped: (n, why) => dropped.inc({ reason: why }, n),
    log: logger,
  });
  const at = (ecosystem: string, e: ServedFile) =>
    log.record({
      ecosystem,
      view: e.view,
      name: e.name,
      version: e.version,
      sha256: e.sha256,
      identity: e.identity,
      client: e.client,
      at: new Date(),
    });
  return {
    log,
    hooks: {
      onServed: (e) => {
        // A .metadata file is not a download of the package: pip reads it to resolve.
        if (!e.metadata) at('pypi', e);
        extra.onServed?.(e);
      },
      onCondaServed: (e) => {
        at('conda', e);
        extra.onCondaServed?.(e);
      },
      onOciServed: (e) => at('oci', e),
      onNpmServed: (e) => at('npm', e), // npm (issue 12)
    },
  };
}
