// `safelist publish [--path DIR] [--view V ...]`: renders each view's simple tree as static
// files into publish.target (or a folder given with --path), then prints what changed. The job
// is jobs/publish.ts, run here or handed to the server that owns the embedded database.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { publishJob } from '../jobs/publish.js';
import { runJobFromCli } from './run-job.js';

export async function publishCommand(config: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { path: { type: 'string' }, view: { type: 'string', multiple: true } } });
  if (!values.path && !config.publish.target) {
    process.stderr.write('safelist publish: set publish.target in the configuration, or give --path DIR\n');
    return 2;
  }
  return runJobFromCli(
    config,
    publishJob,
    { ...(values.path ? { path: resolve(values.path) } : {}), ...(values.view ? { views: values.view } : {}) },
    'publish',
  );
}
