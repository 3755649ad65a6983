// The data of the console's demand page: the most wanted blocked packages, per view, from the
// same counts the API's /api/v1/demand serves (policy/demand.ts, the top of each view), and the geometry of a
// horizontal bar chart drawn from them. Numbers only: the page renders (and escapes) the SVG.
// It must never count demand itself nor read another source.
import { z } from 'zod';
import { mostWantedPerView, type DemandViews } from '../../policy/demand.js';
import type { Db } from '../../state/db.js';
import { parse } from '../../validate.js';

export const demandFilterSchema = z.strictObject({
  view: z.string().max(64).optional(),
  top: z.coerce.number().int().min(1, 'top: at least 1').max(50, 'top: at most 50').optional(),
});
export type DemandFilter = z.infer<typeof demandFilterSchema>;

export function parseDemandFilter(query: unknown): DemandFilter {
  const f = parse(demandFilterSchema, query, 'query');
  return { ...(f.view ? { view: f.view } : {}), ...(f.top ? { top: f.top } : {}) };
}

export interface DemandRow {
  ecosystem: string;
  name: string;
  count: number;
  lastAt: string;
}

export interface DemandBar extends DemandRow {
  /** Bar geometry in the chart's user units (width CHART.width, one row of CHART.row each). */
  y: number;
  width: number;
}

export interface DemandPageView {
  filter: DemandFilter;
  views: Array<{ view: string; rows: DemandRow[]; bars: DemandBar[]; height: number; max: number }>;
}

/** The chart's fixed geometry (user units of the SVG viewBox). */
export const CHART = { width: 640, label: 240, row: 24, bar: 16 } as const;

export async function demandPage(db: Db, filter: DemandFilter, shown: DemandViews = 'all'): Promise<DemandPageView> {
  const rows = await mostWantedPerView(db, filter.top ?? 10, filter.view, shown);
  const byView = new Map<string, DemandRow[]>();
  for (const r of rows)
    byView.set(r.view, [...(byView.get(r.view) ?? []), { ecosystem: r.ecosystem, name: r.name, count: r.count, lastAt: r.lastAt }]);
  const views = [...byView.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([view, rows]) => {
      const max = Math.max(1, ...rows.map((r) => r.count));
      const span = CHART.width - CHART.label - 48;
      const bars = rows.map((r, i) => ({ ...r, y: i * CHART.row, width: Math.max(1, Math.round((r.count / max) * span)) }));
      return { view, rows, bars, height: rows.length * CHART.row, max };
    });
  return { filter, views };
}
