// Change notifications for the read path's caches. A change is published through
// PostgreSQL NOTIFY so that every replica (and this process) invalidates what it rendered.
import type { Db } from '../state/db.js';

export const CATALOG_CHANNEL = 'safelist_catalog';
export const POLICY_CHANNEL = 'safelist_policy';

export type CatalogChange = { ecosystem: string; name: string };

export async function publishCatalogChange(db: Db, change: CatalogChange): Promise<void> {
  await db.notify(CATALOG_CHANNEL, JSON.stringify(change));
}

export function parseCatalogChange(payload: string): CatalogChange | undefined {
  try {
    const v = JSON.parse(payload) as Partial<CatalogChange>;
    return typeof v.ecosystem === 'string' && typeof v.name === 'string' ? { ecosystem: v.ecosystem, name: v.name } : undefined;
  } catch {
    return undefined;
  }
}
