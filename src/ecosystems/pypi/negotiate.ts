// PEP 691 content negotiation: picks JSON or HTML from the Accept header with q-values
// (negotiator), honours ?format=, maps "latest" to v1. Results are memoised per header value
// because clients send the same few headers over and over.
import Negotiator from 'negotiator';

export const PYPI_JSON = 'application/vnd.pypi.simple.v1+json';
export const PYPI_HTML = 'application/vnd.pypi.simple.v1+html';
export const TEXT_HTML = 'text/html';
/** Order breaks ties: HTML for bare wildcards (old clients), JSON when asked for by name. */
const OFFERED = [TEXT_HTML, PYPI_HTML, PYPI_JSON];

export interface Negotiated {
  format: 'json' | 'html';
  contentType: string;
}

const memo = new Map<string, Negotiated | null>();
const MEMO_MAX = 2048;

function choose(accept: string): Negotiated | null {
  const normalized = accept.replace(/application\/vnd\.pypi\.simple\.latest\+/gi, 'application/vnd.pypi.simple.v1+');
  const type = new Negotiator({ headers: { accept: normalized } }).mediaType(OFFERED);
  if (!type) return null;
  if (type === PYPI_JSON) return { format: 'json', contentType: PYPI_JSON };
  return { format: 'html', contentType: type === PYPI_HTML ? PYPI_HTML : 'text/html; charset=utf-8' };
}

/** Returns null when nothing acceptable is offered (the caller answers 406). */
export function negotiateIndexFormat(accept: string | undefined, formatParam: string | undefined): Negotiated | null {
  const header = formatParam ?? (accept && accept.trim() !== '' ? accept : '*/*');
  let v = memo.get(header);
  if (v === undefined) {
    v = choose(header);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(header, v);
  }
  return v;
}

export const OFFERED_TYPES = [PYPI_JSON, PYPI_HTML, TEXT_HTML];
