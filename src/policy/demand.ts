// Demand insight: counts refused requests per (ecosystem, name, view) so curators see what
// to allow next. Best effort and off the response path: a failure here never fails a request.
import type { Db } from '../state/db.js';
import { textProblem } from '../state/text.js';

export function recordBlocked(db: Db, ecosystem: string, name: string, view: string): void {
  // A name no package can have (a NUL, a lone surrogate) is no demand, and the database would refuse it.
  if (textProblem(name) || textProblem(view)) return;
  db.query(
    `INSERT INTO blocked_demand (ecosystem, name, view, count, last_at) VALUES ($1, $2, $3, 1, now())
     ON CONFLICT (ecosystem, name, view) DO UPDATE SET count = blocked_demand.count + 1, last_at = now()`,
    [ecosystem, name.slice(0, 200), view.slice(0, 64)],
    // Safe to drop: a lost count only makes the curators' "most wanted" list slightly low; the
    // request was already refused, and a database that is down shows in /readyz and on every API call.
  ).catch(() => undefined);
}

/** One blocked package's demand, as the API and the console show it. */
export interface Wanted {
  ecosystem: string;
  name: string;
  view: string;
  count: number;
  lastAt: string;
}

type DemandRow = { ecosystem: string; name: string; view: string; count: string; last_at: Date };

function wanted(r: DemandRow): Wanted {
  return { ecosystem: r.ecosystem, name: r.name, view: r.view, count: Number(r.count), lastAt: new Date(r.last_at).toISOString() };
}

/** The views whose counts a caller is shown ('all', or a set: with token package reads, what it reads or approves). */
export type DemandViews = 'all' | ReadonlySet<string>;

const viewList = (views: DemandViews): string[] | null => (views === 'all' ? null : [...views]);

export async function mostWanted(db: Db, limit = 50, views: DemandViews = 'all'): Promise<Wanted[]> {
  const rows = await db.query<DemandRow>(
    `SELECT ecosystem, name, view, count, last_at FROM blocked_demand
      WHERE $2::text[] IS NULL OR view = ANY($2::text[])
      ORDER BY count DESC, last_at DESC LIMIT $1`,
    [limit, viewList(views)],
  );
  return rows.map(wanted);
}

/** The `top` most wanted per view (one view, or every view shown), by view then count; the console's demand page. */
export async function mostWantedPerView(db: Db, top: number, view?: string, views: DemandViews = 'all'): Promise<Wanted[]> {
  const rows = await db.query<DemandRow>(
    `SELECT ecosystem, name, view, count, last_at FROM (
       SELECT d.*, row_number() OVER (PARTITION BY view ORDER BY count DESC, last_at DESC) AS n FROM blocked_demand d
       WHERE ($2::text IS NULL OR view = $2) AND ($3::text[] IS NULL OR view = ANY($3::text[]))) x
     WHERE n <= $1 ORDER BY view, n`,
    [top, view ?? null, viewList(views)],
  );
  return rows.map(wanted);
}
