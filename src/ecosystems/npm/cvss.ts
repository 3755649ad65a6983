// The CVSS v3.x base score of a vector string (CVSS:3.0/… or CVSS:3.1/…), by the formula of the
// specification (https://www.first.org/cvss/v3.1/specification-document §7.1, Roundup in
// Appendix A). Hand-written: the formula is a dozen lines and no maintained package is installed.
// It must never guess: a vector it cannot read in full gives undefined, not a score.

const WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;
/** Privileges required weigh more when the scope changes. */
const PR = { U: { N: 0.85, L: 0.62, H: 0.27 }, C: { N: 0.85, L: 0.68, H: 0.5 } } as const;

/** The smallest number with one decimal that is ≥ x, without floating-point surprises (spec Appendix A). */
function roundUp(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

function pick<T extends Record<string, number>>(table: T, key: string | undefined): number | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key as keyof T] : undefined;
}

export function cvss3BaseScore(vector: string): number | undefined {
  const [head, ...rest] = vector.trim().split('/');
  if (head !== 'CVSS:3.0' && head !== 'CVSS:3.1') return undefined;
  const m = new Map(rest.map((p) => p.split(':') as [string, string]));
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const av = pick(WEIGHTS.AV, m.get('AV'));
  const ac = pick(WEIGHTS.AC, m.get('AC'));
  const pr = pick(PR[scope], m.get('PR'));
  const ui = pick(WEIGHTS.UI, m.get('UI'));
  const [c, i, a] = ['C', 'I', 'A'].map((k) => pick(WEIGHTS.CIA, m.get(k)));
  if (av === undefined || ac === undefined || pr === undefined || ui === undefined || c === undefined || i === undefined || a === undefined)
    return undefined;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15);
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  return scope === 'U' ? roundUp(Math.min(impact + exploitability, 10)) : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}
