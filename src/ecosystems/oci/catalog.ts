// The OCI catalog: which manifests, references and tags are mirrored per image name.
// PostgreSQL is the truth; an in-memory copy serves the read path, refreshed per image on
// change notifications, each image read in one statement (one snapshot: a tag never arrives
// before the manifest it names). It also answers "which digests may a view see in this
// repository": exactly those reachable from a tag the view's policy allows (fail closed otherwise).
import { RecordColumns } from '../../catalog/columns.js';
import type { CatalogReloads } from '../../catalog/reload.js';
import { ReplicatedCatalog, SINGLE_NAME } from '../../catalog/replicated.js';
import type { Policy } from '../../policy/decide.js';
import type { Db, Queryable } from '../../state/db.js';

export interface OciManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
}

export interface OciRef {
  parent: string;
  child: string;
  kind: 'manifest' | 'blob';
  mediaType: string;
  size: number;
  platform: string | null;
}

export interface OciImage {
  name: string;
  tags: Map<string, string>;
  manifests: Map<string, OciManifestRecord>;
  refs: Map<string, OciRef[]>;
  serial: number;
}

/** What one view may read in one repository. */
export interface ViewAccess {
  /** Allowed tags and their manifest digests, sorted by tag. */
  tags: Array<[string, string]>;
  manifests: Set<string>;
  /** Allowed blob digests with their size. */
  blobs: Map<string, number>;
}

/** Everything one tag needs, written in one transaction once all bytes are stored. */
export interface OciTagWrite {
  name: string;
  tag: string;
  digest: string;
  source: string;
  manifests: OciManifestRecord[];
  refs: OciRef[];
}

/** The columns of oci_manifests, oci_refs and oci_tags (beside their `name`), declared once. */
const MANIFEST = new RecordColumns<OciManifestRecord>({
  digest: { column: 'digest', type: 'text' },
  mediaType: { column: 'media_type', type: 'text' },
  size: { column: 'size', type: 'bigint' },
});
const REF = new RecordColumns<OciRef>({
  parent: { column: 'parent', type: 'text' },
  child: { column: 'child', type: 'text' },
  kind: { column: 'kind', type: 'text' },
  mediaType: { column: 'media_type', type: 'text' },
  size: { column: 'size', type: 'bigint' },
  platform: { column: 'platform', type: 'text' },
});
interface OciTagRecord {
  tag: string;
  digest: string;
}
const TAG = new RecordColumns<OciTagRecord>({ tag: { column: 'tag', type: 'text' }, digest: { column: 'digest', type: 'text' } });

/** An image's manifests, references and tags, each as a JSON array of rows, in one statement. */
const READ_IMAGE = `SELECT
  (SELECT coalesce(json_agg(m), '[]'::json) FROM (SELECT ${MANIFEST.selectList} FROM oci_manifests WHERE name = $1) m) AS manifests,
  (SELECT coalesce(json_agg(r), '[]'::json) FROM (SELECT ${REF.selectList} FROM oci_refs WHERE name = $1) r) AS refs,
  (SELECT coalesce(json_agg(t), '[]'::json) FROM (SELECT ${TAG.selectList} FROM oci_tags WHERE name = $1) t) AS tags`;

/** `$from, $from+1, …` for n values. */
const params = (from: number, n: number) => Array.from({ length: n }, (_, i) => `$${from + i}`).join(',');

export class OciCatalog extends ReplicatedCatalog<[name: string]> {
  private readonly images = new Map<string, OciImage>();
  private readonly access = new Map<string, { key: string; value: ViewAccess }>();

  /** `reloads` retries reloads that fail after a notification (shared by the runtime's catalogs). */
  constructor(db: Db, reloads?: CatalogReloads) {
    super(db, 'oci', SINGLE_NAME, reloads);
  }

  /** Reads every image again (after notifications may have been missed). */
  async reloadAll(): Promise<void> {
    const names = await this.db.query<{ name: string }>('SELECT DISTINCT name FROM oci_manifests');
    for (const { name } of names) await this.reload(name);
  }

  /**
   * One statement, so one snapshot: read in three, a tag committed between them could arrive
   * without the manifest it names (and a pull of it fail).
   */
  protected async load(name: string): Promise<void> {
    const [row] = await this.db.query<{
      manifests: Record<string, unknown>[];
      refs: Record<string, unknown>[];
      tags: Record<string, unknown>[];
    }>(READ_IMAGE, [name]);
    const manifests = (row?.manifests ?? []).map((r) => MANIFEST.fromRow(r));
    const refs = (row?.refs ?? []).map((r) => REF.fromRow(r));
    const tags = (row?.tags ?? []).map((r) => TAG.fromRow(r));
    if (manifests.length === 0) {
      if (this.images.delete(name)) this.notifyListeners(name);
      return;
    }
    const image: OciImage = { name, tags: new Map(), manifests: new Map(), refs: new Map(), serial: this.nextSerial() };
    for (const m of manifests) image.manifests.set(m.digest, m);
    for (const r of refs) {
      const list = image.refs.get(r.parent) ?? [];
      list.push(r);
      image.refs.set(r.parent, list);
    }
    for (const t of tags) image.tags.set(t.tag, t.digest);
    this.images.set(name, image);
    this.notifyListeners(name);
  }

  image(name: string): OciImage | undefined {
    return this.images.get(name);
  }

  imageNames(): string[] {
    return [...this.images.keys()].sort();
  }

  /** The tag's digest as last synced, if any. */
  tagDigest(name: string, tag: string): string | undefined {
    return this.images.get(name)?.tags.get(tag);
  }

  /**
   * Digests a view may read through a repository: each allowed tag's manifest, then for an
   * index the platform manifests whose platform is allowed, then configs and layers.
   * Cached per (policy, image version, view).
   */
  viewAccess(policy: Policy, name: string, view: string): ViewAccess {
    const image = this.images.get(name);
    const empty: ViewAccess = { tags: [], manifests: new Set(), blobs: new Map() };
    if (!image) return empty;
    const cacheKey = `${view}\0${name}`;
    const key = `${policy.fingerprint}|${image.serial}`;
    const hit = this.access.get(cacheKey);
    if (hit && hit.key === key) return hit.value;
    const value = empty;
    for (const [tag, digest] of [...image.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!policy.decide({ ecosystem: 'oci', name, version: tag, view, digest }).allowed) continue;
      value.tags.push([tag, digest]);
      const walk = (digest: string): void => {
        if (value.manifests.has(digest) || !image.manifests.has(digest)) return;
        value.manifests.add(digest);
        for (const ref of image.refs.get(digest) ?? []) {
          if (ref.kind === 'blob') value.blobs.set(ref.child, ref.size);
          else if (
            ref.platform === null ||
            policy.decide({ ecosystem: 'oci', name, version: tag, view, digest, platform: ref.platform }).allowed
          )
            walk(ref.child);
        }
      };
      walk(digest);
    }
    this.access.set(cacheKey, { key, value });
    return value;
  }

  /**
   * Records a fully stored tag (manifests, references, tag) in one transaction that tells every
   * other replica at COMMIT; this catalog holds the tag when this returns (read-your-write).
   */
  async commitTag(w: OciTagWrite): Promise<void> {
    await this.writeAndReload([w.name], async (q: Queryable) => {
      for (const m of w.manifests) {
        const values = Object.values(MANIFEST.toJsonRow(m));
        await q.query(
          `INSERT INTO oci_manifests (name, ${MANIFEST.insertList}) VALUES ($1,${params(2, values.length)}) ON CONFLICT (name, digest) DO NOTHING`,
          [w.name, ...values],
        );
      }
      for (const r of w.refs) {
        const values = Object.values(REF.toJsonRow(r));
        await q.query(
          `INSERT INTO oci_refs (name, ${REF.insertList}) VALUES ($1,${params(2, values.length)}) ON CONFLICT (name, parent, child) DO NOTHING`,
          [w.name, ...values],
        );
      }
      await q.query(
        `INSERT INTO oci_tags (name, ${TAG.insertList}, source) VALUES ($1,$2,$3,$4)
         ON CONFLICT (name, tag) DO UPDATE SET digest = EXCLUDED.digest, source = EXCLUDED.source, synced_at = now()`,
        [w.name, ...Object.values(TAG.toJsonRow({ tag: w.tag, digest: w.digest })), w.source],
      );
    });
  }
}
