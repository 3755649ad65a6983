// publish: each view's simple tree and conda channels rendered as static files into
// publish.target (or a folder given by the caller). The server runs it after policy and
// catalog changes (debounced); `safelist publish` runs it on demand. Rendering stays in publish/.
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { errors } from '../errors.js';
import { publishStatic, type PublishReport } from '../publish/static.js';
import { openBlobStore } from '../storage/open.js';
import type { Job } from './types.js';

const params = z.strictObject({
  /** A folder instead of publish.target (absolute: it is written by the process running the job). */
  path: z.string().min(1).max(4096).refine(isAbsolute, 'an absolute folder path').optional(),
  views: z.array(z.string().min(1).max(64)).max(100).optional(),
});

export const publishJob: Job<z.infer<typeof params>, PublishReport> = {
  name: 'publish',
  lock: 'publish',
  params,
  async run({ params: p, deps, signal }) {
    const { config, runtime: rt } = deps;
    const targetConfig = p.path ? { ...config.storage, kind: 'fs' as const, path: p.path } : config.publish.target;
    if (!targetConfig) throw errors.badRequest('set publish.target in the configuration, or give --path DIR');
    const views = p.views ?? config.publish.views;
    for (const v of views ?? []) {
      if (!rt.policies.policy.hasView(v)) throw errors.unknownView(v, rt.policies.policy.viewNames());
    }
    const target = !p.path && deps.publishTarget ? deps.publishTarget : await openBlobStore(targetConfig, config.network.proxy);
    return publishStatic(
      { policy: rt.policies.policy, ecosystems: rt.ecosystems, source: rt.store, target },
      { signal, ...(views ? { views } : {}) },
    );
  },
  audit: (r) => ({ action: 'publish.finished', subject: r.views.join(','), detail: { ...r } }),
};
