// The OCI catalog under the races a full-suite run on PostgreSQL once met (a pull answered 500: a
// replica held a tag without the manifest it names; a sync's own catalog missed a tag it had just
// written). Two catalogs act as two replicas (catalog-replicas.ts: on PostgreSQL, two connection
// pools and listeners on one database; on PGlite, one database), and a HeldDb puts a reload's read exactly where a
// loaded machine may: between another replica's commits, or answered but not yet installed.
// What must hold: every entry a catalog installs is whole (a tag's manifest and its references
// are there), a key's entries only move forward, a writer holds its write when it returns, and a
// replica that opens during a write does not miss it.
// Waits are bounded polls on outcomes, never on time.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciCatalog, type OciImage, type OciTagWrite } from '../../src/ecosystems/oci/catalog.js';
import { catalogReplicas, type CatalogReplicas } from '../support/catalog-replicas.js';
import { DB_MODES } from '../support/databases.js';
import { heldDb } from '../support/held-db.js';
import { until } from '../support/wait.js';

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** One tag's write as the sync makes it: its manifest, the manifest's config and layer, the tag. */
function tagWrite(name: string, tag: string): OciTagWrite {
  const digest = sha256(`${name}:${tag} manifest`);
  const blob = (what: string) => ({
    parent: digest,
    child: sha256(`${name}:${tag} ${what}`),
    kind: 'blob' as const,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    size: 10,
    platform: null,
  });
  return {
    name,
    tag,
    digest,
    source: 'mcr',
    manifests: [{ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 300 }],
    refs: [blob('config'), blob('layer')],
  };
}

/** Every tag names a manifest the entry holds, with its references; every reference hangs off one. */
function whole(image: OciImage): boolean {
  for (const digest of image.tags.values()) if (!image.manifests.has(digest) || !image.refs.get(digest)?.length) return false;
  for (const [parent, refs] of image.refs) {
    if (!image.manifests.has(parent)) return false;
    if (refs.some((r) => r.kind === 'manifest' && !image.manifests.has(r.child))) return false;
  }
  return true;
}

/** What a catalog installed for one image, in order: its tags and whether the entry was whole. */
function installsOf(catalog: OciCatalog, name: string): Array<{ tags: string[]; whole: boolean }> {
  const out: Array<{ tags: string[]; whole: boolean }> = [];
  catalog.onChange((n) => {
    if (n !== name) return;
    const image = catalog.image(n);
    out.push({ tags: image ? [...image.tags.keys()].sort() : [], whole: image ? whole(image) : true });
  });
  return out;
}

/** Each install holds every tag the one before it held. */
const movesForward = (installs: Array<{ tags: string[] }>) =>
  installs.every((x, i) => i === 0 || installs[i - 1]!.tags.every((t) => x.tags.includes(t)));

describe.each(DB_MODES)('OCI catalog races between replicas on %s', (mode) => {
  let r: CatalogReplicas<OciCatalog>;

  beforeAll(async () => {
    r = await catalogReplicas(mode, (db, reloads) => new OciCatalog(db, reloads));
  });

  afterAll(async () => {
    await r?.close();
  });

  it('a replica never installs a tag without its manifest, whatever commits between the reads of its reload', async () => {
    const { writer, replica, dbB } = r;
    const name = 'mcr/race/snapshot';
    const installs = installsOf(replica, name);
    dbB.hold(/oci_tags/, 'before');
    await writer.commitTag(tagWrite(name, '1'));
    // The replica's reload of tag 1 has read all it reads before the tags, and waits to read those.
    await r.heldWithNothingRunning(dbB, "the replica's reload to wait before reading the tags");
    dbB.stopHolding();
    await writer.commitTag(tagWrite(name, '2'));
    dbB.release();
    await r.drain(dbB);
    await r.settle(dbB);
    expect(installs.length).toBeGreaterThan(0);
    expect(installs.filter((i) => !i.whole)).toEqual([]);
    expect(installs.at(-1)!.tags).toEqual(['1', '2']);
  });

  it('reloads of one image on a replica land in order: an older read never replaces a newer one', async () => {
    const { writer, replica, dbB } = r;
    const name = 'mcr/race/order';
    const installs = installsOf(replica, name);
    dbB.hold(/oci_/, 'after');
    await writer.commitTag(tagWrite(name, '1'));
    // The replica's reload of tag 1 has read the image (tag 1 only) and is about to install it.
    await r.heldWithNothingRunning(dbB, "the replica's reload of tag 1 to be answered");
    dbB.stopHolding();
    await writer.commitTag(tagWrite(name, '2'));
    // The notification of tag 2 reached the replica, and whatever reload it started has read.
    await r.drain(dbB);
    await until(() => dbB.running === 0 || undefined, "the replica's reload of tag 2");
    dbB.release();
    await r.settle(dbB);
    expect(installs, JSON.stringify(installs)).toSatisfy(movesForward);
    expect(installs.at(-1)!.tags).toEqual(['1', '2']);
    expect(replica.image(name)!.tags.size).toBe(2);
  });

  it('a writer holds its tag when commitTag returns, and no later reload takes it back', async () => {
    const { writer, dbA } = r;
    const name = 'mcr/race/writer';
    const installs = installsOf(writer, name);
    dbA.holdNotifications();
    await writer.commitTag(tagWrite(name, '1'));
    // Any reload the writer makes on its own notification of tag 1 is answered, then held.
    dbA.hold(/oci_/, 'after');
    dbA.releaseNotifications();
    await r.drain(dbA);
    await until(() => dbA.running === 0 || undefined, "the writer's reloads on its notification");
    dbA.stopHolding();
    const second = tagWrite(name, '2');
    await writer.commitTag(second);
    expect(writer.tagDigest(name, '2')).toBe(second.digest);
    await r.drain(dbA);
    dbA.release();
    await r.settle(dbA);
    expect(writer.tagDigest(name, '2')).toBe(second.digest);
    expect(installs, JSON.stringify(installs)).toSatisfy(movesForward);
    expect(installs.filter((i) => !i.whole)).toEqual([]);
  });

  it('a replica that opens while another writes misses nothing committed during its first read', async () => {
    const { writer } = r;
    const name = 'mcr/race/opening';
    const dbC = heldDb(r.replicaBase);
    const late = new OciCatalog(dbC, r.replicaReloads);
    await r.hear(dbC);
    // Its first read has listed the images there are (not this one yet) and goes on from there.
    dbC.hold(/SELECT DISTINCT name FROM oci_manifests/, 'after');
    const opening = late.open();
    try {
      await until(() => dbC.held > 0 || undefined, "the new replica's first read to list the images");
      dbC.stopHolding();
      await writer.commitTag(tagWrite(name, '1'));
      await r.drain(dbC); // the write's notification reached this process while the new replica was still reading
      dbC.release();
      await opening;
      await r.drain(dbC);
      await r.settle(dbC);
      expect(late.tagDigest(name, '1')).toBe(tagWrite(name, '1').digest);
    } finally {
      dbC.release();
      await opening.catch(() => undefined); // its failure, if any, is the assertion's above
      await late.close();
    }
  });

  it('the replica ends with what the writer wrote, whole, after a run of commits', async () => {
    const { writer, replica, dbB } = r;
    const name = 'mcr/race/many';
    const installs = installsOf(replica, name);
    for (let i = 0; i < 20; i++) await writer.commitTag(tagWrite(name, `1.${i}`));
    await r.drain(dbB);
    await r.settle(dbB);
    expect(installs.filter((i) => !i.whole)).toEqual([]);
    expect(installs).toSatisfy(movesForward);
    expect([...replica.image(name)!.tags.keys()].sort()).toEqual([...writer.image(name)!.tags.keys()].sort());
    expect(replica.image(name)!.tags.size).toBe(20);
  });
});
