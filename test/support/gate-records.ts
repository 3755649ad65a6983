// Gate records for console tests and benchmarks, written the way the gate worker writes them:
// a push recorded through GateStore, claimed, judged by the container policy (evaluate) and,
// when it fails, purged. Real store, real policy; only the scanner's findings are given.
import { GateStore } from '../../src/gate/store.js';
import { evaluate, loadContainerPolicy } from '../../src/gate/policy.js';
import type { Finding, ImageRef, Verdict } from '../../src/gate/types.js';
import type { Db } from '../../src/state/db.js';

export interface JudgedImage extends ImageRef {
  tag: string;
  findings: Finding[];
}

/** Records, judges and (on a fail) purges one image; resolves with its verdict. */
export async function judgedImage(db: Db, policyFile: string, img: JudgedImage): Promise<Verdict> {
  const store = new GateStore(db, 3_600_000);
  const ref = { registry: img.registry, repository: img.repository, digest: img.digest };
  await store.recordPushes(
    'distribution',
    img.registry,
    [{ id: `evt-${img.digest}-${img.tag}`, host: `${img.registry}.test`, repository: img.repository, tag: img.tag, digest: img.digest }],
    'webhook',
  );
  const [claim] = await store.claimDue(1, 60_000);
  if (!claim) throw new Error(`the image ${img.repository}@${img.digest} was not due`);
  const loaded = await loadContainerPolicy(policyFile);
  if (!loaded.ok) throw new Error(`the container policy has problems: ${JSON.stringify(loaded.problems)}`);
  const verdict = evaluate(loaded.policy, ref, img.findings);
  if (!(await store.decide(verdict, claim))) throw new Error('the verdict was not recorded');
  if (verdict.outcome === 'fail' && !verdict.reportOnly) await store.recordPurge(ref, 'purged', { status: 202 });
  return verdict;
}
