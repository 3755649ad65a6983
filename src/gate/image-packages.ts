// What the gate knows is inside each image: the packages the contents provider found installed
// (after the layers' whiteouts), stored per image digest and replaced at each scan. Read by
// incidents ("which passed images contain demo-pkg 1.1?") and by the re-judging of passed
// images when a package turns out to be malicious. Names are stored normalised (the policy's
// own normalisation), so a look-up by any spelling finds them. It never decides a verdict.
import type { Db, Queryable } from '../state/db.js';
import type { ImageRef } from './types.js';

export interface ImagePackage {
  ecosystem: string;
  name: string;
  version: string;
  path: string;
}

/** Replaces the packages recorded for a digest (one transaction: never half a list). */
export async function recordImagePackages(db: Db, digest: string, packages: ImagePackage[]): Promise<void> {
  await db.tx(async (q) => {
    await q.query('DELETE FROM gate_image_packages WHERE digest = $1', [digest]);
    if (!packages.length) return;
    await q.query(
      `INSERT INTO gate_image_packages (digest, ecosystem, name, version, path)
         SELECT $1, ecosystem, name, version, path FROM json_to_recordset($2::json) AS r(ecosystem text, name text, version text, path text)
         ON CONFLICT (digest, path) DO NOTHING`,
      [digest, JSON.stringify(packages)],
    );
  });
}

export interface ImageWithPackage extends ImageRef {
  state: string;
  decidedAt: string | null;
  /** Where in the image the package's record sits. */
  paths: string[];
}

/** Every image (any state) whose recorded contents hold (ecosystem, name, version). */
export async function imagesContaining(q: Queryable, ecosystem: string, name: string, version: string): Promise<ImageWithPackage[]> {
  const rows = await q.query<{
    registry: string;
    repository: string;
    digest: string;
    state: string;
    decided_at: string | null;
    paths: string[];
  }>(
    `SELECT g.registry, g.repository, g.digest, g.state, g.verdict->>'decidedAt' AS decided_at, array_agg(p.path ORDER BY p.path) AS paths
       FROM gate_image_packages p JOIN gate_images g ON g.digest = p.digest
      WHERE p.ecosystem = $1 AND p.name = $2 AND p.version = $3
      GROUP BY g.registry, g.repository, g.digest, g.state, g.verdict->>'decidedAt'
      ORDER BY g.registry, g.repository, g.digest`,
    [ecosystem, name, version],
  );
  return rows.map((r) => ({
    registry: r.registry,
    repository: r.repository,
    digest: r.digest,
    state: r.state,
    decidedAt: r.decided_at,
    paths: r.paths,
  }));
}

/** The recorded packages of every image that passed: what a new malware rule is checked against. */
export async function packagesOfPassedImages(
  q: Queryable,
): Promise<Array<ImageRef & { ecosystem: string; name: string; version: string }>> {
  return q.query(
    `SELECT DISTINCT g.registry, g.repository, g.digest, p.ecosystem, p.name, p.version
       FROM gate_images g JOIN gate_image_packages p ON p.digest = g.digest WHERE g.state = 'pass'`,
  );
}
