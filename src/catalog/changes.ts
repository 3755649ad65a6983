// Change notifications for the read path's caches. A change is published through
// PostgreSQL NOTIFY so that every replica (and this process) invalidates what it rendered.
import type { Queryable } from '../state/db.js';

export const CATALOG_CHANNEL = 'safelist_catalog';
export const POLICY_CHANNEL = 'safelist_policy';

/**
 * `origin`: the catalog instance that wrote and already reloaded (it skips its own notification;
 * every other instance, in this process or another, reloads).
 */
export type CatalogChange = { ecosystem: string; name: string; origin?: string };

/**
 * Publishes on q: inside a transaction the notification is delivered at COMMIT (and dropped
 * on ROLLBACK), and PGlite's single connection is not asked for a second query mid-transaction.
 */
export async function publishCatalogChange(q: Queryable, change: CatalogChange): Promise<void> {
  await q.query('SELECT pg_notify($1, $2)', [CATALOG_CHANNEL, JSON.stringify(change)]);
}

/**
 * Publishes one change per name in one statement (a bulk write touches thousands of projects),
 * tagged with `origin` when the writer already reloaded them.
 */
export async function publishCatalogChanges(q: Queryable, ecosystem: string, names: readonly string[], origin?: string): Promise<void> {
  const payloads = names.map((name) => JSON.stringify({ ecosystem, name, ...(origin ? { origin } : {}) } satisfies CatalogChange));
  await q.query('SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p', [CATALOG_CHANNEL, JSON.stringify(payloads)]);
}

export function parseCatalogChange(payload: string): CatalogChange | undefined {
  try {
    const v = JSON.parse(payload) as Partial<CatalogChange>;
    if (typeof v.ecosystem !== 'string' || typeof v.name !== 'string') return undefined;
    return { ecosystem: v.ecosystem, name: v.name, ...(typeof v.origin === 'string' ? { origin: v.origin } : {}) };
  } catch {
    return undefined;
  }
}
